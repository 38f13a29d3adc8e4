#!/usr/bin/env bash
# Loads every object in obj/ into the running kernel with `bpftool prog loadall` and prints one
# verdict line per object: "accept: PROGRAMS" or "reject: FIRST VERIFIER/LIBBPF MESSAGE".
# Needs root. Works in a private bpffs mounted under a fresh temporary directory, which it
# unmounts and removes on exit, so it leaves no pins, programs or mounts behind.
#
# xdp_meta.*.o is expected to be rejected here ("metadata kfuncs require device-bound
# program"): bpftool 7.1 cannot load device-bound programs. See README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if [ "$(id -u)" -ne 0 ]; then
    echo "verify.sh: needs root (BPF program loading)" >&2
    exit 2
fi

# No dots: libbpf rewrites them to "_" in map pin paths.
fs="$(mktemp -d /tmp/bpfpatch_verify_XXXXXXXX)"
cleanup() {
    if mountpoint -q "$fs"; then
        umount "$fs"
    fi
    rmdir "$fs"
}
trap cleanup EXIT
mount -t bpf bpf "$fs"

status=0
for obj in obj/*.o; do
    # bpffs refuses names with dots.
    name="$(basename "$obj" .o | tr . _)"
    # pinmaps keeps the maps alive while the programs are listed; a PROG_ARRAY loses its
    # entries when its last user reference goes.
    if log="$(bpftool prog loadall "$obj" "$fs/$name" pinmaps "$fs/${name}_maps" 2>&1)"; then
        echo "$obj: accept: $(ls "$fs/$name" | tr '\n' ' ')"
    else
        first="$(printf '%s\n' "$log" | grep -v -e '^libbpf:' -e '^Error:' -e '^Warning:' \
            -e '^If it used to work' -e '^processed ' -e '^-- ' -e '^$' | tail -n 1 || true)"
        echo "$obj: reject: $first"
        case "$obj" in
        obj/xdp_meta.*) ;;
        *) status=1 ;;
        esac
    fi
    rm -rf -- "${fs:?}/$name" "${fs:?}/${name}_maps"
done
exit "$status"
