#!/usr/bin/env bash
# Benchmarks: our plugins beside the reference Go plugins (Debian's
# containernetworking-plugins in /usr/lib/cni), measured in one run.
# Usage: scripts/bench.sh [host-local|bridge]   (default: every benchmark)
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
