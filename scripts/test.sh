#!/usr/bin/env bash
# The one test command: formatting, lints, unit tests and end-to-end tests
# (real network namespaces, so as root). Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_root
ensure_packages iproute2 util-linux containernetworking-plugins nftables iptables iputils-ping \
    podman runc conmon catatonit busybox-static containerd
ensure_rust
ensure_rust_tools

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo build (the end-to-end tests run the built plugins)"
cargo build --workspace --locked
echo "== the real clients' tests need: the installed suite, cnitool, a CRI client"
scripts/install.sh --prefix "$PWD/target/install/bin" --multicall
ensure_cnitool
ensure_cri_pod
echo "== cargo test"
cargo test --workspace --locked
echo "== tests that need a kernel with more features, in a VM"
scripts/vm-tests.sh
echo "== all tests passed"
