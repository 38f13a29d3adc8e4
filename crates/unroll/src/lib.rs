//! Placeholder crate root; the capability lands with its issue.
#![warn(missing_docs)]
