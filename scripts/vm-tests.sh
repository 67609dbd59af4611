#!/usr/bin/env bash
# Run the tests that need kernel features this machine's kernel lacks
# (bridge vlan filtering, ipvlan, dummy, 8021q, vrf) inside one throwaway VM
# with Debian's stock kernel (../shared/vmtest/run-in-vm). Those tests are
# named vm_* and marked #[ignore] so that a plain `cargo test` lists them as
# ignored, with the reason, instead of passing them silently.
#
# Builds on the host (never inside the VM), boots once, runs every test
# binary's ignored tests, and fails if the VM cannot run them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# The runner lives beside the checkout (../shared); CNI_VM_RUNNER overrides.
RUN_IN_VM="${CNI_VM_RUNNER:-$(cd .. && pwd)/shared/vmtest/run-in-vm}"
[ -x "$RUN_IN_VM" ] || die "the VM runner $RUN_IN_VM is missing (set CNI_VM_RUNNER): the vm_* tests cannot run"

cargo build --workspace --locked
# The plugins the tests run, optimized: the guest's CPU is emulated, and a
# debug build takes twice as long just to start there.
cargo build --workspace --locked --release --bins
# The test executables, as cargo reports them.
mapfile -t bins < <(cargo test --workspace --locked --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | sort -u)
[ ${#bins[@]} -gt 0 ] || die "no test executables found"

script=$(mktemp "$PWD/target/vm-tests.XXXXXX.sh")
trap 'rm -f "$script"' EXIT
{
    echo 'set -u; failed=0'
    # The plugins run from the guest's tmpfs: starting an executable read
    # over the guest's 9p share costs several times what the code inside does.
    echo 'mkdir -p /tmp/cni-bin && find target/release -maxdepth 1 -type f -perm -u+x -exec cp -t /tmp/cni-bin {} + && export CNI_TEST_BIN_DIR=/tmp/cni-bin'
    for b in "${bins[@]}"; do
        # Only binaries that have vm_ tests.
        if "$b" --list --ignored 2>/dev/null | grep -q '^.*vm_.*: test$'; then
            echo "echo '== $(basename "$b")'"
            echo "'$b' --ignored vm_ --test-threads=2 || failed=1"
        fi
    done
    echo 'exit $failed'
} > "$script"
echo "== running the vm_* tests in a VM (Debian's kernel)"
"$RUN_IN_VM" --mem 2G --timeout 1500 -- bash "$script"
