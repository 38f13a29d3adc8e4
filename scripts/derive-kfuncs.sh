#!/usr/bin/env bash
# Regenerates the bundled kfunc table of this machine's kernel,
# crates/verifier-model/data/kfuncs-<version>.txt, from /sys/kernel/btf/vmlinux (see
# crates/verifier-model/src/verifier/kfunc_bundle.rs and examples/derive_kfuncs.rs).
#
#   scripts/derive-kfuncs.sh                       rewrite the table of the running kernel
#   scripts/derive-kfuncs.sh --check               regenerate and diff against the committed
#                                                  file (exit 1 on any difference)
#   scripts/derive-kfuncs.sh --btf F --version V   another kernel's BTF
#
# A new version must also be listed in kfunc_bundle.rs (VERSIONS, text()).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run -q -p bpf-verifier-model --example derive_kfuncs -- "$@"
