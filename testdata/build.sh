#!/usr/bin/env bash
# Rebuilds the committed BPF test objects from src/*.bpf.c.
#
#   build/vmlinux.h   regenerated from this machine's kernel BTF with bpftool (not committed)
#   obj/NAME.v3.o     clang-19 -O2 -g -target bpf -mcpu=v3
#   obj/NAME.v4.o     the same with -mcpu=v4
#
# clang's default .llvm_addrsig section is kept on purpose: the library must cope with it.
# The objects do not depend on the checkout path and two runs on the same kernel give
# byte-identical files (checked: see README.md). They do depend on the kernel's BTF, through vmlinux.h.
#
# Environment: CLANG (default clang-19), BPFTOOL (default bpftool),
# VMLINUX_BTF (default /sys/kernel/btf/vmlinux).
# Needs: apt-get install clang-19 libbpf-dev bpftool
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

clang="${CLANG:-clang-19}"
bpftool="${BPFTOOL:-bpftool}"
vmlinux_btf="${VMLINUX_BTF:-/sys/kernel/btf/vmlinux}"

for tool in "$clang" "$bpftool"; do
    if ! command -v "$tool" >/dev/null; then
        echo "build.sh: $tool not found (apt-get install clang-19 libbpf-dev bpftool)" >&2
        exit 2
    fi
done
if [ ! -r "$vmlinux_btf" ]; then
    echo "build.sh: cannot read $vmlinux_btf (kernel built without CONFIG_DEBUG_INFO_BTF?)" >&2
    exit 2
fi

mkdir -p build obj

"$bpftool" btf dump file "$vmlinux_btf" format c >build/vmlinux.h.tmp
mv build/vmlinux.h.tmp build/vmlinux.h
echo "generated build/vmlinux.h from $vmlinux_btf ($(wc -l <build/vmlinux.h) lines)"

# clang-19's output (the order of strings in .debug_str) changes with the length of the working
# directory's path, even with -ffile-prefix-map. So compile in a scratch directory whose path
# always has the same length, and map it to ".".
scratch="$(mktemp -d /tmp/bpfpatch-testdata.XXXXXXXX)"
trap 'rm -rf -- "$scratch"' EXIT
mkdir -p "$scratch/build" "$scratch/obj" "$scratch/src"
cp -- src/*.bpf.c src/*.h "$scratch/src/"
cp -- build/vmlinux.h "$scratch/build/"

cflags=(-O2 -g -target bpf -Wall -Werror -I build -ffile-prefix-map="$scratch"=.)

built=0
for src in src/*.bpf.c; do
    name="$(basename "$src" .bpf.c)"
    for cpu in v3 v4; do
        out="obj/$name.$cpu.o"
        (cd "$scratch" && "$clang" "${cflags[@]}" -mcpu="$cpu" -c "$src" -o "$out")
        cp -- "$scratch/$out" "$out.tmp"
        mv -- "$out.tmp" "$out"
        echo "built $out ($(wc -c <"$out") bytes)"
        built=$((built + 1))
    done
done

# Objects whose source is gone would otherwise linger as stale fixtures.
for obj in obj/*.o; do
    [ -e "$obj" ] || continue
    name="$(basename "$obj" .o)"
    name="${name%.v[34]}"
    if [ ! -e "src/$name.bpf.c" ]; then
        rm -- "$obj"
        echo "removed stale $obj"
    fi
done

echo "$built objects in $here/obj"
