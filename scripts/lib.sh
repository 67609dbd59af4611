# Shared by the scripts in this directory: source it, do not run it.
# Each helper installs what is missing and says what it is doing.

die() { echo "error: $*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "run this as root: it creates network namespaces, links and firewall rules"
}

# ensure_packages PKG...: install the Debian packages that are not installed yet.
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "== installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

# The minimum Rust: edition 2024 and std::fs::File::lock.
RUST_MIN=1.89

ensure_rust() {
    export PATH="$HOME/.cargo/bin:$PATH"
    if ! command -v cargo >/dev/null 2>&1 || ! rust_new_enough; then
        if command -v rustup >/dev/null 2>&1; then
            echo "== installing the stable Rust toolchain with rustup"
            rustup toolchain install stable --profile minimal -c rustfmt,clippy >/dev/null
            rustup default stable >/dev/null
        else
            ensure_packages curl ca-certificates
            echo "== installing Rust with rustup (https://rustup.rs)"
            curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy >/dev/null \
                || die "could not install Rust >= $RUST_MIN; install it (https://rustup.rs) and run again"
        fi
        rust_new_enough || die "Rust >= $RUST_MIN is needed, found $(rustc --version 2>/dev/null)"
    fi
    ensure_packages gcc libc6-dev
}

ensure_rust_tools() {
    for c in rustfmt clippy; do
        if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
            command -v rustup >/dev/null 2>&1 || die "cargo $c is missing and there is no rustup to add it"
            rustup component add "$c" >/dev/null
        fi
    done
}

rust_new_enough() {
    local v
    v=$(rustc --version 2>/dev/null | awk '{print $2}') || return 1
    [ -n "$v" ] && [ "$(printf '%s\n%s\n' "$RUST_MIN" "$v" | sort -V | head -n1)" = "$RUST_MIN" ]
}

# ensure_cnitool: target/tools/cnitool, libcni's command-line client, built
# from Debian's source package of libcni (golang-github-appc-cni) with
# Debian's Go and libcni sources, offline. Adds a deb-src entry for
# bookworm if there is none.
ensure_cnitool() {
    local out="$PWD/target/tools/cnitool"
    [ -x "$out" ] && return 0
    ensure_packages golang-go golang-github-appc-cni-dev dpkg-dev
    ensure_deb_src
    local work
    work=$(mktemp -d)
    echo "== building cnitool from Debian's golang-github-appc-cni source"
    (cd "$work" && apt-get source --download-only golang-github-appc-cni >/dev/null 2>&1) \
        || die "apt-get source golang-github-appc-cni failed"
    tar -xf "$work"/golang-github-appc-cni_*.orig.tar.* -C "$work"
    mkdir -p "$(dirname "$out")"
    (cd "$work"/golang-github-appc-cni-*/ && GO111MODULE=off GOPATH=/usr/share/gocode \
        GOCACHE="$work/cache" go build -o "$out" ./cnitool) || die "building cnitool failed"
    rm -rf "$work"
}

# ensure_cri_pod: target/tools/cri-pod, our small CRI client
# (scripts/cri/cri-pod.go), built offline with Debian's Go, gRPC and gogo
# protobuf, and the CRI API that Debian's containerd source carries.
ensure_cri_pod() {
    local out="$PWD/target/tools/cri-pod"
    [ -x "$out" ] && [ "$out" -nt scripts/cri/cri-pod.go ] && return 0
    ensure_packages golang-go golang-google-grpc-dev golang-github-gogo-protobuf-dev dpkg-dev
    ensure_deb_src
    local work
    work=$(mktemp -d)
    echo "== building cri-pod against the CRI API of Debian's containerd source"
    (cd "$work" && apt-get source --download-only containerd >/dev/null 2>&1) \
        || die "apt-get source containerd failed"
    tar -xf "$work"/containerd_*.orig.tar.* -C "$work"
    mkdir -p "$work/gopath/src/k8s.io" "$work/gopath/src/cri-pod"
    cp -r "$work"/containerd-*/vendor/k8s.io/cri-api "$work/gopath/src/k8s.io/"
    cp scripts/cri/cri-pod.go "$work/gopath/src/cri-pod/"
    mkdir -p "$(dirname "$out")"
    (cd "$work/gopath/src/cri-pod" && GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" \
        GOCACHE="$work/cache" go build -o "$out" .) || die "building cri-pod failed"
    rm -rf "$work"
}

# ensure_deb_src: a deb-src entry for bookworm (the clients' sources).
ensure_deb_src() {
    grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
    echo "== adding a deb-src entry for bookworm"
    cat > /etc/apt/sources.list.d/cni-plugins-rs-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq || die "apt-get update failed"
}
