#!/usr/bin/env bash
# The one test command (see README.md). Sets up a fresh Debian 12 machine with Rust on it, then
# runs formatting, lints, docs and every test with every feature enabled.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in libelf-dev clang-19 llvm-19 libbpf-dev bpftool iproute2 pkg-config zlib1g-dev binutils; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked

export CARGO_TERM_COLOR=never
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet
cargo nextest run --workspace --all-features --no-fail-fast
cargo test --workspace --all-features --doc
# The bundled driver profiles are what Debian's kernel package and this machine's BTF give
# (downloads one 70 MB .deb; about 10 s).
scripts/derive-profiles.sh --check
