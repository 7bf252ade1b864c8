//! Example plugins built on the Plexus SDK, and what their tests share.
//!
//! The binaries live in `src/bin/`; this library holds their logic (so it is
//! unit-tested without a process) and the pieces the tests (and the Go
//! interop tests) reuse to compare what a plugin received with what was
//! sent, field by field.

pub mod aesgcm;
pub mod cidr;
pub mod jsonl;
pub mod search;
pub mod users;
