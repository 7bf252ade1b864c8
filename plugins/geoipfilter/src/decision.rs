//! The CheckIP rule of `sftpgo-plugin-geoipfilter` (1.2.0), in one function.
//!
//! 1. Parse (zone-tolerant). Failure: allow, or deny with `--deny-on-lookup-error`.
//! 2. A non-public address (private, loopback, link-local, CGNAT): allow.
//! 3. Look the country up. A failed lookup: allow, or deny with
//!    `--deny-on-lookup-error`. No country (no record, no code, an empty
//!    code): allow, or deny with `--deny-unknown-country`.
//! 4. A denied country: deny, "country XX is denied, ip ...". The deny list
//!    is checked first and wins over the allow list.
//! 5. No allow list: allow. A listed country: allow. Otherwise deny,
//!    "country XX is not allowed, ip ...".
//!
//! The address in a message is the text the host sent, as the Go plugin
//! writes it. Fail-open outcomes are logged at WARN, denials at DEBUG, as
//! there.

use std::collections::HashSet;

use crate::address;
use crate::database::CountryDb;

/// The configured lists and the fail-closed switches.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub allowed: HashSet<String>,
    pub denied: HashSet<String>,
    pub deny_on_lookup_error: bool,
    pub deny_unknown_country: bool,
}

impl Policy {
    /// `Ok(())` allows `ip`; `Err(message)` denies it.
    pub fn check(&self, ip: &str, db: &CountryDb) -> Result<(), String> {
        let parsed = match address::parse(ip) {
            Ok(parsed) => parsed,
            Err(err) => {
                if self.deny_on_lookup_error {
                    tracing::debug!(ip, error = %err, "unparsable ip denied");
                    return Err(format!("unable to parse ip {ip}: {err}"));
                }
                tracing::warn!(ip, error = %err, "error parsing the provided IP address");
                return Ok(());
            }
        };
        if address::is_non_public(parsed) {
            return Ok(());
        }
        let country = match db.country(parsed) {
            Ok(Some(country)) => country,
            Ok(None) => {
                if self.deny_unknown_country {
                    tracing::debug!(ip, "unknown country denied");
                    return Err(format!("unable to get the country, ip {ip} is denied"));
                }
                tracing::warn!(ip, "unable to get country, the IP will be allowed");
                return Ok(());
            }
            Err(err) => {
                if self.deny_on_lookup_error {
                    tracing::debug!(ip, error = %err, "lookup error, ip denied");
                    return Err(format!("unable to lookup ip {ip}: {err}"));
                }
                tracing::warn!(ip, error = %err, "unable to lookup the provided IP address, the IP will be allowed");
                return Ok(());
            }
        };
        if self.denied.contains(country) {
            tracing::debug!(ip, country, "country denied");
            return Err(format!("country {country} is denied, ip {ip}"));
        }
        if self.allowed.is_empty() || self.allowed.contains(country) {
            return Ok(());
        }
        tracing::debug!(ip, country, "country not allowed");
        Err(format!("country {country} is not allowed, ip {ip}"))
    }
}
