#!/usr/bin/env bash
# Build the suite (release: optimised for size, stripped) and install it.
#
#   scripts/install.sh [--prefix DIR] [--conf-dir DIR] [--multicall] [--no-build] [--force]
#
#   --prefix DIR    where the plugins go (default /opt/cni/bin, where
#                   runtimes look for them)
#   --conf-dir DIR  also install the example configs of conf/ there (for
#                   example /etc/cni/net.d); existing files are kept unless
#                   --force
#   --multicall     install the single binary `cni-plugins` and links named
#                   after each plugin (about 3 MB for the whole suite)
#   --no-build      install what target/<host triple>/release already holds
#
# Replaces the plugins of the same names in DIR (the reference's, for
# example); other files there are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

PREFIX=/opt/cni/bin
CONF_DIR=
MULTICALL=0
BUILD=1
FORCE=0
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
        --conf-dir) CONF_DIR=${2:?--conf-dir needs a directory}; shift 2 ;;
        --multicall) MULTICALL=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --force) FORCE=1; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

PLUGINS=(bridge firewall host-local ipvlan loopback macvlan portmap tuning)

# Release builds are static (no dynamic loader or shared-library
# relocations at each start of a short-lived process, a smaller resident
# set; nothing here needs NSS or dlopen) and, with lld (Rust's default
# linker on x86_64 Linux), laid out by scripts/symbol-order.txt so that
# the code the plugins run sits in a few pages (see scripts/symbol-order.sh).
ensure_rust
HOST=$(rustc -vV | sed -n 's/^host: //p')
FLAGS="\"-C\",\"target-feature=+crt-static\""
if [ "$HOST" = x86_64-unknown-linux-gnu ]; then
    FLAGS="$FLAGS,\"-C\",\"link-arg=-Wl,--symbol-ordering-file=$PWD/scripts/symbol-order.txt\""
    FLAGS="$FLAGS,\"-C\",\"link-arg=-Wl,--no-warn-symbol-ordering\""
fi
OUT="target/$HOST/release"
if [ "$BUILD" = 1 ]; then
    echo "== building the plugins (release, static)"
    cargo build --release --locked --workspace --bins --target "$HOST" \
        --config "target.$HOST.rustflags=[$FLAGS]"
fi
for p in "${PLUGINS[@]}" cni-plugins; do
    [ -x "$OUT/$p" ] || die "$OUT/$p is missing: build first (or drop --no-build)"
done

mkdir -p "$PREFIX"
if [ "$MULTICALL" = 1 ]; then
    # Copy next to the target and rename: a running plugin is never
    # overwritten in place (no ETXTBSY, no half-written binary).
    install -m 0755 "$OUT/cni-plugins" "$PREFIX/.cni-plugins.new"
    mv -f "$PREFIX/.cni-plugins.new" "$PREFIX/cni-plugins"
    for p in "${PLUGINS[@]}"; do
        ln -sfn cni-plugins "$PREFIX/.$p.new"
        mv -Tf "$PREFIX/.$p.new" "$PREFIX/$p"
    done
    echo "== installed cni-plugins and links ${PLUGINS[*]} in $PREFIX"
else
    for p in "${PLUGINS[@]}"; do
        install -m 0755 "$OUT/$p" "$PREFIX/.$p.new"
        mv -f "$PREFIX/.$p.new" "$PREFIX/$p"
    done
    echo "== installed ${PLUGINS[*]} in $PREFIX"
fi
du -sh --apparent-size "$PREFIX" | awk '{print "   " $1 " in " $2}'

if [ -n "$CONF_DIR" ]; then
    mkdir -p "$CONF_DIR"
    for f in conf/*.conf conf/*.conflist; do
        dest="$CONF_DIR/$(basename "$f")"
        if [ -e "$dest" ] && [ "$FORCE" = 0 ]; then
            echo "   kept existing $dest"
        else
            install -m 0644 "$f" "$dest"
            echo "   installed $dest"
        fi
    done
fi
