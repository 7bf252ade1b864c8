//! Helpers for the interop tests: see tests/.
