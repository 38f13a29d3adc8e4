//! Work in progress: the bpf_conformance runner.
