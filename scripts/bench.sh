#!/usr/bin/env bash
# Benchmarks: our plugins beside the reference Go plugins (Debian's
# containernetworking-plugins in /usr/lib/cni), measured in one run.
#
#   scripts/bench.sh                 the whole table, written into
#                                    docs/BENCHMARKS.md (about 15 minutes)
#   scripts/bench.sh host-local|bridge|macvlan|ipvlan|chain|all
#                                    detailed benchmarks, printed
#
# Ours are the binaries scripts/install.sh installs (static, stripped),
# installed under target/bench. ipvlan runs in a VM guest (this machine's
# kernel has no ipvlan) whose CPU is emulated: its absolute times are not
# comparable with the others.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_root
ensure_packages containernetworking-plugins iproute2 nftables iptables
ensure_rust

what=${1:-table}
case $what in
    table|all|host-local|bridge|macvlan|ipvlan|chain) ;;
    *) die "unknown benchmark $what (see the top of $0)" ;;
esac
OURS="$PWD/target/bench/bin"
scripts/install.sh --prefix "$OURS" >/dev/null
cargo build --release --locked -p cni-e2e --bin cni-bench
BENCH="$PWD/target/release/cni-bench"

if [ "$what" = table ]; then
    ensure_packages podman runc conmon catatonit busybox-static containerd
    ensure_cnitool
    ensure_cri_pod
    scripts/install.sh --prefix "$PWD/target/bench/multicall" --multicall --no-build >/dev/null
    table=$(mktemp)
    trap 'rm -f "$table"' EXIT
    "$BENCH" table --ours "$OURS" --multicall "$PWD/target/bench/multicall" \
        --reference /usr/lib/cni --tools "$PWD/target/tools" --runs 20 | tee "$table"
    # Between the markers of docs/BENCHMARKS.md: the machine, the command
    # and the table; the text around them is kept.
    {
        echo "<!-- bench: begin (written by scripts/bench.sh) -->"
        echo "Measured $(date -u +%Y-%m-%d) with \`sudo scripts/bench.sh\` on $(nproc) CPUs" \
            "($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), Linux $(uname -r)," \
            "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM;" \
            "reference: $(dpkg-query -W -f='${Package} ${Version}' containernetworking-plugins)," \
            "$(rustc --version | cut -d' ' -f1-2), $(podman --version), containerd $(containerd --version | awk '{print $3}')."
        echo
        cat "$table"
        echo "<!-- bench: end -->"
    } >"$table.block"
    doc=docs/BENCHMARKS.md
    [ -f "$doc" ] || die "$doc is missing"
    awk -v block="$table.block" '
        /<!-- bench: begin/ { while ((getline l < block) > 0) print l; skip = 1; next }
        /<!-- bench: end/ { skip = 0; next }
        !skip { print }' "$doc" >"$doc.new"
    mv "$doc.new" "$doc"
    rm -f "$table.block"
    echo "== wrote the table into $doc"
    exit 0
fi

if [ "$what" = all ] || [ "$what" = host-local ]; then
    "$BENCH" host-local --ours "$OURS" --reference /usr/lib/cni
fi
if [ "$what" = all ] || [ "$what" = bridge ]; then
    "$BENCH" bridge --ours "$OURS" --reference /usr/lib/cni
fi
if [ "$what" = all ] || [ "$what" = macvlan ]; then
    "$BENCH" macvlan --ours "$OURS" --reference /usr/lib/cni
fi
if [ "$what" = all ] || [ "$what" = chain ]; then
    "$BENCH" chain --ours "$OURS" --reference /usr/lib/cni
fi
if [ "$what" = all ] || [ "$what" = ipvlan ]; then
    RUN_IN_VM="${CNI_VM_RUNNER:-$(cd .. && pwd)/shared/vmtest/run-in-vm}"
    [ -x "$RUN_IN_VM" ] || die "the VM runner $RUN_IN_VM is missing (set CNI_VM_RUNNER)"
    # Both implementations run from the guest's tmpfs: executables read
    # over the guest's 9p share cost far more to start than the code inside.
    "$RUN_IN_VM" --mem 1G -- bash -c '
        set -e
        mkdir -p /tmp/ours /tmp/ref
        cp target/bench/bin/ipvlan target/bench/bin/host-local target/release/cni-bench /tmp/ours/
        cp /usr/lib/cni/ipvlan /usr/lib/cni/host-local /tmp/ref/
        /tmp/ours/cni-bench ipvlan --ours /tmp/ours --reference /tmp/ref --runs 15'
fi
