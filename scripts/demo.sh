#!/usr/bin/env bash
# Build the suite (release) and show it working: two container network
# namespaces get a loopback (the loopback plugin) and an eth0 on one Linux
# bridge (the bridge plugin with host-local addresses); they ping each
# other; CHECK passes; DEL tears everything down again. Installs what it
# needs and cleans up after itself, also when interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_root
ensure_packages iproute2 iputils-ping
ensure_rust

echo "== building the plugins (release)"
cargo build --release --locked --workspace
BIN="$PWD/target/release"
ID=$$
BR="cnidemo$((ID % 10000))"
WORK=$(mktemp -d /tmp/cni-demo.XXXXXX)
NETNS=("cni-demo-$ID-a" "cni-demo-$ID-b")
SUBNET=10.254.$((ID % 250)).0/24

cat > "$WORK/bridge.conf" <<CONF
{
  "cniVersion": "1.1.0",
  "name": "demo-net",
  "type": "bridge",
  "bridge": "$BR",
  "isGateway": true,
  "ipam": {
    "type": "host-local",
    "dataDir": "$WORK/ipam",
    "ranges": [[{ "subnet": "$SUBNET" }]]
  }
}
CONF

# cni COMMAND PLUGIN CONF NETNS: run one plugin the way a runtime does.
cni() {
    local cmd=$1 plugin=$2 conf=$3 ns=$4
    CNI_COMMAND=$cmd CNI_CONTAINERID="demo-$ns" CNI_NETNS="/run/netns/$ns" CNI_IFNAME=eth0 \
        CNI_PATH="$BIN" "$BIN/$plugin" < "$conf"
}

cleanup() {
    for ns in "${NETNS[@]}"; do
        cni DEL bridge "$WORK/bridge.conf" "$ns" >/dev/null 2>&1 || true
        ip netns del "$ns" 2>/dev/null || true
    done
    ip link del "$BR" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

for ns in "${NETNS[@]}"; do
    ip netns add "$ns"
    echo "== ADD loopback + bridge in $ns"
    cni ADD loopback conf/99-loopback.conf "$ns" >/dev/null
    cni ADD bridge "$WORK/bridge.conf" "$ns" | tee "$WORK/$ns.json"
    echo
    cni CHECK bridge <(sed "s|^{|{\"prevResult\": $(tr -d '\n' < "$WORK/$ns.json"),|" "$WORK/bridge.conf") "$ns"
    echo "   CHECK ok"
done

echo "== addresses"
for ns in "${NETNS[@]}"; do
    printf '%s: ' "$ns"
    ip -n "$ns" -br addr show dev eth0
done
echo "== bridge $BR and its ports"
ip -br addr show dev "$BR"
ip -br link show master "$BR"

peer=$(ip -n "${NETNS[1]}" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
echo "== ping from ${NETNS[0]} to ${NETNS[1]} ($peer)"
ip netns exec "${NETNS[0]}" ping -c 3 -i 0.2 "$peer"

echo "== DEL"
for ns in "${NETNS[@]}"; do
    cni DEL bridge "$WORK/bridge.conf" "$ns"
    cni DEL loopback conf/99-loopback.conf "$ns"
    echo "   $ns: $(ip -n "$ns" -br link show | tr -s ' ' | tr '\n' ';')"
done
echo "   ports left on $BR: $(ip -br link show master "$BR" | wc -l)"
echo "   host-local records left: $(find "$WORK/ipam/demo-net" -type f ! -name lock ! -name 'last_reserved_ip*' 2>/dev/null | wc -l)"
echo "== done (the bridge $BR is removed on exit)"
