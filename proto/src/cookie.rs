//! The five SFTPGo plugin kinds and their go-plugin magic cookies.
//!
//! A go-plugin host puts `KEY=VALUE` of the plugin kind's cookie in the
//! child's environment; a go-plugin server refuses to run without it. The
//! values are public constants of SFTPGo's SDK, and every kind speaks app
//! protocol version 1.

use std::fmt;
use std::str::FromStr;

/// The app protocol version every SFTPGo plugin kind speaks.
pub const APP_PROTOCOL_VERSION: u32 = 1;

/// The go-plugin core protocol version (the first field of the handshake line).
pub const CORE_PROTOCOL_VERSION: u32 = 1;

/// A go-plugin handshake cookie: the environment variable and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeCookie {
    pub key: &'static str,
    pub value: &'static str,
}

/// The five plugin kinds SFTPGo defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluginKind {
    Notifier,
    Kms,
    Auth,
    EventSearcher,
    IpFilter,
}

impl PluginKind {
    /// All kinds, in the order SFTPGo lists them.
    pub const ALL: [PluginKind; 5] = [
        PluginKind::Notifier,
        PluginKind::Kms,
        PluginKind::Auth,
        PluginKind::EventSearcher,
        PluginKind::IpFilter,
    ];

    /// The `type` string of SFTPGo's config, also the name the plugin is dispensed under.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Notifier => "notifier",
            PluginKind::Kms => "kms",
            PluginKind::Auth => "auth",
            PluginKind::EventSearcher => "eventsearcher",
            PluginKind::IpFilter => "ipfilter",
        }
    }

    /// The magic cookie a host sets and a plugin of this kind checks.
    pub fn cookie(self) -> HandshakeCookie {
        let (key, value) = match self {
            PluginKind::Notifier => (
                "SFTPGO_PLUGIN_NOTIFIER",
                "c499b98b-cd59-4df2-92b3-6268817f4d80",
            ),
            PluginKind::Kms => ("SFTPGO_PLUGIN_KMS", "223e3571-7ed2-4b96-b4b3-c7eb87d7ca1d"),
            PluginKind::Auth => ("SFTPGO_PLUGIN_AUTH", "d1ed507d-d2be-4a38-a460-6fe0b2cc7efc"),
            PluginKind::EventSearcher => (
                "SFTPGO_PLUGIN_EVENTSEARCHER",
                "2b523805-0279-471c-895e-6c0d39002ca4",
            ),
            PluginKind::IpFilter => (
                "SFTPGO_PLUGIN_IPFILTER",
                "368dbdab-4839-4bec-b75f-fc74a2d50f24",
            ),
        };
        HandshakeCookie { key, value }
    }

    /// The fully qualified gRPC service name of this kind's SFTPGo service.
    pub fn grpc_service(self) -> &'static str {
        match self {
            PluginKind::Notifier => "proto.Notifier",
            PluginKind::Kms => "proto.KMS",
            PluginKind::Auth => "proto.Auth",
            PluginKind::EventSearcher => "proto.Searcher",
            PluginKind::IpFilter => "proto.IPFilter",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a `type` string that names no plugin kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported plugin type {0:?} (expected one of notifier, kms, auth, eventsearcher, ipfilter)"
)]
pub struct UnknownPluginKind(pub String);

impl FromStr for PluginKind {
    type Err = UnknownPluginKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PluginKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownPluginKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_match_sftpgo_sdk_constants() {
        assert_eq!(
            PluginKind::Notifier.cookie(),
            HandshakeCookie {
                key: "SFTPGO_PLUGIN_NOTIFIER",
                value: "c499b98b-cd59-4df2-92b3-6268817f4d80"
            }
        );
        assert_eq!(
            PluginKind::EventSearcher.cookie().value,
            "2b523805-0279-471c-895e-6c0d39002ca4"
        );
        assert_eq!(
            PluginKind::IpFilter.cookie().value,
            "368dbdab-4839-4bec-b75f-fc74a2d50f24"
        );
        assert_eq!(
            PluginKind::Kms.cookie().value,
            "223e3571-7ed2-4b96-b4b3-c7eb87d7ca1d"
        );
        assert_eq!(
            PluginKind::Auth.cookie().value,
            "d1ed507d-d2be-4a38-a460-6fe0b2cc7efc"
        );
    }

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in PluginKind::ALL {
            assert_eq!(kind.as_str().parse::<PluginKind>(), Ok(kind));
            assert!(kind.cookie().key.starts_with("SFTPGO_PLUGIN_"));
        }
    }

    #[test]
    fn unknown_kind_is_named_in_the_error() {
        let err = "metadata".parse::<PluginKind>().unwrap_err();
        assert!(err.to_string().contains("\"metadata\""), "{err}");
    }
}
