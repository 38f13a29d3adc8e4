//! Work in progress: filled in by the issue that introduces it.
