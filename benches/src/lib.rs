//! Benchmarks of Plexus and the side-by-side harness against a go-plugin
//! Go host.
//!
//! "Fast" has to be a measured ratio, not a claim: every criterion group in
//! `benches/` carries its baseline, and the `plexus-compare` binary delivers
//! the same events to the same plugin binary through the Plexus engine (or
//! the `plexus serve` daemon, fed by `plexus emit`) and through an
//! SFTPGo-style Go host, alternating the two to cancel machine
//! drift. This library holds what the harness is made of, one concern a
//! module (and `scaling`, the rows of the scaling table of
//! `plexus-scaling`); `README.md` says how to run everything and what each figure means.

pub mod compare;
pub mod cpu;
pub mod daemon_run;
pub mod error;
pub mod go_run;
pub mod latency;
pub mod locate;
pub mod plexus_run;
pub mod report;
pub mod rss;
pub mod scaling;
pub mod svg;
pub mod tail;
pub mod verify;
pub mod workload;

pub use error::{Context, Error, Result};
