#!/usr/bin/env bash
# Regenerates the bundled driver profiles, crates/unroll/profiles/*.profile (see
# crates/unroll/src/profile/ and crates/unroll/examples/derive_profiles.rs).
#
#   scripts/derive-profiles.sh            rewrite the profiles
#   scripts/derive-profiles.sh --check    regenerate into a temporary directory and diff against
#                                         the committed files (exit 1 on any difference)
#   scripts/derive-profiles.sh --latest   use the newest linux-image-6.1.0-N-amd64 apt knows
#                                         instead of the version the committed profiles name
#
# ice, mlx4, bnxt: the split module BTF (.BTF of ice.ko, mlx4_en.ko, bnxt_en.ko) of Debian's
# packaged 6.1 kernel on its vmlinux base BTF (the .BTF of the vmlinux ELF inside the bzImage,
# decompressed). The package and version are those recorded in the committed ice.profile, so the
# output is reproducible; the .deb's sha256 is checked against the record.
# veth: this machine's /sys/kernel/btf/vmlinux, only when `uname -r` is the release recorded in
# veth.profile (another kernel would give other offsets); otherwise veth is left as committed.
# Needs: apt-get, dpkg-deb, objcopy (binutils), python3, cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=write
latest=0
for a in "$@"; do
    case "$a" in
        --check) mode=check ;;
        --latest) latest=1 ;;
        *) echo "usage: $0 [--check] [--latest]" >&2; exit 2 ;;
    esac
done

profiles=crates/unroll/profiles
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The Debian package: as recorded, or the newest.
read -r _ _ pkg version sha <<<"$(grep '^origin debian ' "$profiles/ice.profile" || echo "origin debian - - -")"
if [ "$latest" = 1 ] || [ "$pkg" = - ]; then
    pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
    version=$(apt-cache show "$pkg" | awk '/^Version:/ {print $2; exit}')
    sha=
fi
echo "package: $pkg $version"
if ! apt-cache show "$pkg=$version" >/dev/null 2>&1; then
    echo "apt does not know $pkg $version (run apt-get update; or --latest if Debian dropped it)" >&2
    exit 2
fi
(cd "$work" && apt-get download -qq "$pkg=$version" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
deb=$(ls "$work"/*.deb)
got=$(sha256sum "$deb" | cut -d' ' -f1)
if [ -n "$sha" ] && [ "$got" != "$sha" ]; then
    echo "$pkg $version: .deb sha256 $got, the profiles record $sha" >&2
    exit 1
fi
sha=$got

mkdir -p "$work/x" "$work/btf"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/x" --wildcards './boot/vmlinuz-*' \
    '*/ice.ko' '*/mlx4_en.ko' '*/bnxt_en.ko'

# vmlinux: the compressed payload of the bzImage, found by its magic.
python3 - "$work"/x/boot/vmlinuz-* "$work/vmlinux" <<'PY'
import gzip, lzma, subprocess, sys, zlib
data = open(sys.argv[1], "rb").read()
magics = [(b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x1f\x8b\x08", "gzip")]
found = sorted((data.find(m), kind) for m, kind in magics if data.find(m) >= 0)
for off, kind in found:
    try:
        if kind == "xz":
            out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[off:])
        elif kind == "gzip":
            out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[off:])
        else:
            out = subprocess.run(["zstd", "-dc"], input=data[off:], capture_output=True).stdout
    except Exception:
        continue
    if out[:4] == b"\x7fELF":
        open(sys.argv[2], "wb").write(out)
        sys.exit(0)
sys.exit("no compressed ELF payload found in " + sys.argv[1])
PY
objcopy --dump-section .BTF="$work/btf/vmlinux.btf" "$work/vmlinux" "$work/vmlinux.stripped"
for ko in ice mlx4_en bnxt_en; do
    f=$(find "$work/x" -name "$ko.ko")
    objcopy --dump-section .BTF="$work/btf/$ko.ko.btf" "$f" "$work/$ko.o"
done

out=$profiles
if [ "$mode" = check ]; then
    out="$work/out"
    mkdir -p "$out"
fi
machine=()
recorded=$(awk '/^origin machine / {print $3}' "$profiles/veth.profile" 2>/dev/null || true)
if [ -r /sys/kernel/btf/vmlinux ] && { [ -z "$recorded" ] || [ "$recorded" = "$(uname -r)" ]; }; then
    machine=(--machine "$(uname -r)" /sys/kernel/btf/vmlinux)
else
    echo "veth: this machine runs $(uname -r), the profile records $recorded: kept as committed"
    [ "$mode" = check ] && cp "$profiles/veth.profile" "$out/"
fi

cargo run -q -p bpf-unroll --example derive_profiles -- --out "$out" \
    --debian "$work/btf" "$pkg" "$version" "$sha" "${machine[@]}"

if [ "$mode" = check ]; then
    if diff -ru "$profiles" "$out"; then
        echo "profiles are up to date"
    else
        echo "profiles differ from what scripts/derive-profiles.sh derives" >&2
        exit 1
    fi
fi
