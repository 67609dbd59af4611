#!/usr/bin/env bash
# Benchmarks: our plugins beside the reference Go plugins (Debian's
# containernetworking-plugins in /usr/lib/cni), measured in one run.
# Usage: scripts/bench.sh [host-local|bridge|macvlan|ipvlan|chain]   (default: all)
# ipvlan runs in a VM guest (this machine's kernel has no ipvlan) whose CPU
# is emulated: its absolute times are not comparable with the others.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_root
ensure_packages containernetworking-plugins iproute2 nftables iptables
ensure_rust

cargo build --release --locked --workspace
BENCH="$PWD/target/release/cni-bench"
what=${1:-all}
if [ "$what" = all ] || [ "$what" = host-local ]; then
    "$BENCH" host-local --ours "$PWD/target/release" --reference /usr/lib/cni
fi
if [ "$what" = all ] || [ "$what" = bridge ]; then
    "$BENCH" bridge --ours "$PWD/target/release" --reference /usr/lib/cni
fi
if [ "$what" = all ] || [ "$what" = macvlan ]; then
    "$BENCH" macvlan --ours "$PWD/target/release" --reference /usr/lib/cni
fi
if [ "$what" = all ] || [ "$what" = chain ]; then
    "$BENCH" chain --ours "$PWD/target/release" --reference /usr/lib/cni
fi
if [ "$what" = all ] || [ "$what" = ipvlan ]; then
    RUN_IN_VM="${CNI_VM_RUNNER:-$(cd .. && pwd)/shared/vmtest/run-in-vm}"
    [ -x "$RUN_IN_VM" ] || die "the VM runner $RUN_IN_VM is missing (set CNI_VM_RUNNER)"
    # Both implementations run from the guest's tmpfs: executables read
    # over the guest's 9p share cost far more to start than the code inside.
    "$RUN_IN_VM" --mem 1G -- bash -c '
        set -e
        mkdir -p /tmp/ours /tmp/ref
        cp target/release/ipvlan target/release/host-local target/release/cni-bench /tmp/ours/
        cp /usr/lib/cni/ipvlan /usr/lib/cni/host-local /tmp/ref/
        /tmp/ours/cni-bench ipvlan --ours /tmp/ours --reference /tmp/ref --runs 15'
fi
