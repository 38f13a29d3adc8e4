//! Library half of the `bpfpatch` command: argument types and output rendering.
#![warn(missing_docs)]
