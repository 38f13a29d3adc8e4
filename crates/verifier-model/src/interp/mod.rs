//! Work in progress: the concrete interpreter.
