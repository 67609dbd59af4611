#!/usr/bin/env bash
# Regenerate scripts/symbol-order.txt, the link order install.sh gives the
# linker (lld's --symbol-ordering-file): every function the plugins run in
# their usual work, in the order they first run, so that this code sits in
# a few contiguous pages at the front of .text instead of being spread over
# the whole binary. The kernel maps file pages 64 KiB at a time around each
# fault, so scattered hot code makes nearly all of .text resident: ordering
# takes a bridge ADD from about 2.2 to 2.0 MiB peak RSS and VERSION from
# 1.6 to 1.1 MiB (scripts/bench.sh measures it).
#
#   scripts/symbol-order.sh
#
# Runs, under valgrind's callgrind, cnitool ADD/CHECK/DEL of podman's and
# containerd's chains, macvlan and loopback, and VERSION of every plugin
# and of the multi-call binary. ipvlan is not run (this kernel has none);
# its shared code (crates/iface) is covered by macvlan. Regenerate after a
# toolchain upgrade or a large change: a stale list only costs locality
# (names it does not find are ignored), never correctness.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_root
ensure_packages valgrind iproute2 nftables iptables
ensure_rust
ensure_cnitool

HOST=$(rustc -vV | sed -n 's/^host: //p')
echo "== building the plugins with symbols (static, as install.sh does)"
cargo build --release --locked --workspace --bins --target "$HOST" \
    --target-dir target/symbol-order --config 'profile.release.strip=false' \
    --config "target.$HOST.rustflags=[\"-C\",\"target-feature=+crt-static\"]"
REAL="$PWD/target/symbol-order/$HOST/release"
PLUGINS=(bridge firewall host-local ipvlan loopback macvlan portmap tuning)

tag="so$$"
work=$(mktemp -d)
cleanup() {
    ip netns del "$tag" 2>/dev/null || true
    ip netns del "${tag}b" 2>/dev/null || true
    for l in "${tag}br0" "${tag}br1" "${tag}m0"; do ip link del "$l" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Each plugin runs under callgrind, one profile per process.
mkdir -p "$work/bin" "$work/prof" "$work/net.d"
for p in "${PLUGINS[@]}"; do
    cat >"$work/bin/$p" <<EOF
#!/bin/sh
exec valgrind -q --tool=callgrind --demangle=no --callgrind-out-file="$work/prof/%p.$p" "$REAL/$p" "\$@"
EOF
    chmod +x "$work/bin/$p"
done

ip netns add "$tag"
ip netns add "${tag}b"
ip link add "${tag}m0" type veth peer name "${tag}m1"
ip link set "${tag}m0" up
cat >"$work/net.d/10-podman.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "${tag}-podman", "plugins": [
  {"type": "bridge", "bridge": "${tag}br0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$work/ipam", "routes": [{"dst": "0.0.0.0/0"}],
            "ranges": [[{"subnet": "10.231.0.0/24"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "firewall"},
  {"type": "tuning"}]}
EOF
cat >"$work/net.d/20-containerd.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "${tag}-containerd", "plugins": [
  {"type": "bridge", "bridge": "${tag}br1", "isGateway": true, "ipMasq": true, "promiscMode": true,
   "ipam": {"type": "host-local", "dataDir": "$work/ipam",
            "ranges": [[{"subnet": "10.232.0.0/24"}], [{"subnet": "fd00:232::/64"}]],
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
cat >"$work/net.d/30-macvlan.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "${tag}-macvlan", "plugins": [
  {"type": "macvlan", "master": "${tag}m0", "mode": "bridge",
   "ipam": {"type": "host-local", "dataDir": "$work/ipam", "ranges": [[{"subnet": "10.233.0.0/24"}]]}}]}
EOF
cat >"$work/net.d/40-loopback.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "${tag}-lo", "plugins": [{"type": "loopback"}]}
EOF

echo "== running the plugins under callgrind"
export NETCONFPATH="$work/net.d" CNI_PATH="$work/bin"
export CAP_ARGS='{"portMappings": [{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]}'
for net in podman containerd macvlan lo; do
    ifname=eth0
    [ "$net" = lo ] && ifname=lo
    # Two containers: the first ADD makes the bridge, the second finds it.
    for step in "add $tag" "add ${tag}b" "check $tag" "del $tag" "del ${tag}b"; do
        set -- $step
        # (valgrind's notes on the NS_GET_NSTYPE ioctl go to the log)
        CNI_IFNAME=$ifname target/tools/cnitool "$1" "${tag}-$net" "/run/netns/$2" \
            >/dev/null 2>"$work/log" || { cat "$work/log" >&2; die "cnitool $step ${tag}-$net failed"; }
    done
done
for p in "${PLUGINS[@]}"; do
    CNI_COMMAND=VERSION "$work/bin/$p" </dev/null >/dev/null
done
CNI_COMMAND=VERSION valgrind -q --tool=callgrind --demangle=no \
    --callgrind-out-file="$work/prof/multicall" "$REAL/cni-plugins" bridge </dev/null >/dev/null

# First what runs before main and after exit, which callgrind does not
# show (glibc's static start-up, its IFUNC resolvers, exit), then the
# function names in the order of first appearance (profiles by time),
# without callgrind's pseudo-entries.
{
    printf '%s\n' _start __libc_start_main_impl __libc_start_call_main _dl_relocate_static_pie \
        __libc_setup_tls _dl_aux_init __libc_init_secure __libc_init_first _dl_non_dynamic_init \
        __libc_early_init _dl_new_object sigprocmask pthread_sigmask __pthread_sigmask \
        exit __run_exit_handlers _IO_cleanup free_mem __libc_freeres _exit
    nm "$REAL/cni-plugins" | awk '$2 ~ /^[tT]$/ && $3 ~ /_ifunc$/ {print $3}'
    # shellcheck disable=SC2012
    ls -tr "$work"/prof/* | xargs cat | grep -oP '^c?fn=\(\d+\) \K[A-Za-z_.$][^ ]*$'
} | awk '!seen[$0]++' >scripts/symbol-order.txt
echo "== scripts/symbol-order.txt: $(wc -l <scripts/symbol-order.txt) functions"
