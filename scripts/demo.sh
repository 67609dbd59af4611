#!/usr/bin/env bash
# Build the suite (release) and show it working: the loopback plugin's ADD,
# CHECK and DEL against a fresh network namespace, with the namespace's `lo`
# shown before and after each step. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_root
ensure_packages iproute2
ensure_rust

echo "== building the plugins (release)"
cargo build --release --locked --workspace
BIN="$PWD/target/release"
NS="cni-demo-$$"
ip netns add "$NS"
trap 'ip netns del "$NS" 2>/dev/null || true' EXIT

cni() {
    local cmd=$1 conf=$2 rc
    echo "== $cmd ($conf)"
    CNI_COMMAND=$cmd CNI_CONTAINERID="demo-$$" CNI_NETNS="/run/netns/$NS" CNI_IFNAME=eth0 CNI_PATH="$BIN" \
        "$BIN/loopback" < "$conf" && rc=0 || rc=$?
    echo
    echo "   (exit status $rc)"
    [ "$rc" = 0 ] || die "$cmd failed"
}

echo "== network namespace $NS, before:"
ip -n "$NS" addr show lo
cni ADD conf/99-loopback.conf
ip -n "$NS" addr show lo
cni CHECK conf/99-loopback.conf
cni DEL conf/99-loopback.conf
ip -n "$NS" link show lo
echo "== VERSION"
CNI_COMMAND=VERSION "$BIN/loopback" </dev/null
