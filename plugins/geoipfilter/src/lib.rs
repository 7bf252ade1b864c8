//! `plexus-geoipfilter`: SFTPGo's Geo-IP filter as a Plexus SDK plugin.
//!
//! An ipfilter plugin that allows or denies a client by the country of its
//! IP address, read from a MaxMind DB (`.mmdb`) file: MaxMind's GeoLite2 /
//! GeoIP2 layout (`country.iso_code`) or the flat `country_code` layout of
//! IPLocate and IPinfo Lite. It is a drop-in for `sftpgo-plugin-geoipfilter`
//! (1.2.0): the same `serve` flags and `SFTPGO_PLUGIN_GEOIPFILTER_*`
//! variables, the same decision and the same denial messages.
//!
//! The crate is a library too, so that the tests and benchmarks reach the
//! decision and the database without a process in between:
//! - [`cli`]: the flags and their validation,
//! - [`address`]: parsing a client address and the always-allowed ranges,
//! - [`database`]: one opened database and its country lookup,
//! - [`decision`]: the allow/deny rule,
//! - [`filter`]: the gRPC service, with the reload that swaps databases.

pub mod address;
pub mod cli;
pub mod database;
pub mod decision;
pub mod filter;

/// The plugin's name, in logs and error lines.
pub const NAME: &str = "plexus-geoipfilter";
