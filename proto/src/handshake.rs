//! The go-plugin handshake line.
//!
//! After it starts listening, a plugin prints exactly one line on stdout:
//! `CORE|APP|NETWORK|ADDRESS|PROTOCOL|SERVERCERT[|MUX]`. The host reads it to
//! learn where to connect and, with AutoMTLS, which certificate to pin. The
//! certificate is the raw DER in standard base64 *without padding* (the line
//! cannot hold PEM's newlines). This module formats the line (plugin side) and
//! parses it (host side); policy such as which versions are acceptable stays
//! with the caller.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use std::fmt;

/// Where the plugin listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Unix,
    Tcp,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Unix => "unix",
            Network::Tcp => "tcp",
        }
    }
}

/// One parsed (or to-be-printed) handshake line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeLine {
    /// go-plugin's core protocol version; always 1 today.
    pub core_version: u32,
    /// The negotiated app protocol version.
    pub app_version: u32,
    pub network: Network,
    /// A socket path for `unix`, `host:port` for `tcp`.
    pub address: String,
    /// `grpc` or `netrpc`; a 4-field line (no protocol) means `netrpc`.
    pub protocol: String,
    /// The plugin's AutoMTLS certificate (DER), when it printed one.
    pub server_cert: Option<Vec<u8>>,
    /// The 7th field: whether the plugin multiplexes broker connections.
    pub multiplex: Option<bool>,
}

/// Why a handshake line could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("unrecognized handshake line (expected CORE|APP|NETWORK|ADDRESS|PROTOCOL[|CERT[|MUX]]): {line:?}")]
    Unrecognized { line: String },
    #[error("core protocol version {0:?} is not a number")]
    BadCoreVersion(String),
    #[error("app protocol version {0:?} is not a number")]
    BadAppVersion(String),
    #[error("unknown network {0:?} (expected unix or tcp)")]
    UnknownNetwork(String),
    #[error("empty listener address")]
    EmptyAddress,
    #[error("server certificate is not valid base64: {0}")]
    BadCertificate(String),
    #[error("multiplex field {0:?} is not true or false")]
    BadMultiplex(String),
}

/// go-plugin treats a certificate field of at most this many characters as absent.
const MIN_CERT_FIELD_LEN: usize = 50;

/// The longest line a host accepts, so a runaway plugin cannot make it buffer forever.
pub const MAX_HANDSHAKE_LINE: usize = 64 * 1024;

impl HandshakeLine {
    /// Parses a line as a go-plugin host does: whitespace trimmed, split on `|`.
    pub fn parse(raw: &str) -> Result<Self, HandshakeError> {
        let line = raw.trim();
        let parts: Vec<&str> = line.split('|').collect();
        if parts.len() < 4 {
            return Err(HandshakeError::Unrecognized {
                line: truncate_for_error(line),
            });
        }
        let core_version = parts[0]
            .parse()
            .map_err(|_| HandshakeError::BadCoreVersion(truncate_for_error(parts[0])))?;
        let app_version = parts[1]
            .parse()
            .map_err(|_| HandshakeError::BadAppVersion(truncate_for_error(parts[1])))?;
        let network = match parts[2] {
            "unix" => Network::Unix,
            "tcp" => Network::Tcp,
            other => return Err(HandshakeError::UnknownNetwork(truncate_for_error(other))),
        };
        let address = parts[3].to_owned();
        if address.is_empty() {
            return Err(HandshakeError::EmptyAddress);
        }
        let protocol = parts.get(4).map_or("netrpc", |p| p).to_owned();
        let server_cert = match parts.get(5) {
            Some(field) if field.len() > MIN_CERT_FIELD_LEN => Some(decode_cert(field)?),
            _ => None,
        };
        let multiplex = match parts.get(6) {
            None | Some(&"") => None,
            Some(&"true") => Some(true),
            Some(&"false") => Some(false),
            Some(other) => return Err(HandshakeError::BadMultiplex(truncate_for_error(other))),
        };
        Ok(HandshakeLine {
            core_version,
            app_version,
            network,
            address,
            protocol,
            server_cert,
            multiplex,
        })
    }

    /// The line as a plugin prints it (without the trailing newline).
    pub fn format(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for HandshakeLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cert = self
            .server_cert
            .as_deref()
            .map(|der| STANDARD_NO_PAD.encode(der))
            .unwrap_or_default();
        write!(
            f,
            "{}|{}|{}|{}|{}|{}",
            self.core_version,
            self.app_version,
            self.network.as_str(),
            self.address,
            self.protocol,
            cert
        )?;
        if let Some(mux) = self.multiplex {
            write!(f, "|{mux}")?;
        }
        Ok(())
    }
}

fn decode_cert(field: &str) -> Result<Vec<u8>, HandshakeError> {
    // go-plugin prints it without padding; tolerate padded input from other hosts.
    STANDARD_NO_PAD
        .decode(field)
        .or_else(|_| STANDARD.decode(field))
        .map_err(|err| HandshakeError::BadCertificate(err.to_string()))
}

fn truncate_for_error(text: &str) -> String {
    const LIMIT: usize = 200;
    if text.len() <= LIMIT {
        return text.to_owned();
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cert: Option<Vec<u8>>, multiplex: Option<bool>) -> HandshakeLine {
        HandshakeLine {
            core_version: 1,
            app_version: 1,
            network: Network::Unix,
            address: "/tmp/plugin123".into(),
            protocol: "grpc".into(),
            server_cert: cert,
            multiplex,
        }
    }

    #[test]
    fn parses_a_go_plugin_1_0_1_line_without_certificate() {
        let line = HandshakeLine::parse("1|1|unix|/tmp/plugin123|grpc|\n").unwrap();
        assert_eq!(line, sample(None, None));
    }

    #[test]
    fn parses_tcp_and_the_seventh_field() {
        let line = HandshakeLine::parse("1|1|tcp|127.0.0.1:10001|grpc||true").unwrap();
        assert_eq!(line.network, Network::Tcp);
        assert_eq!(line.address, "127.0.0.1:10001");
        assert_eq!(line.multiplex, Some(true));
    }

    #[test]
    fn certificate_round_trips_without_padding() {
        let der: Vec<u8> = (0..=255u8).cycle().take(301).collect();
        let line = sample(Some(der.clone()), None);
        let text = line.format();
        assert!(!text.contains('='), "no padding in {text}");
        assert_eq!(HandshakeLine::parse(&text).unwrap().server_cert, Some(der));
    }

    #[test]
    fn padded_certificate_is_tolerated() {
        let der = vec![7u8; 100];
        let text = format!("1|1|unix|/s|grpc|{}", STANDARD.encode(&der));
        assert_eq!(HandshakeLine::parse(&text).unwrap().server_cert, Some(der));
    }

    #[test]
    fn short_certificate_field_is_ignored_as_go_plugin_does() {
        let line = HandshakeLine::parse("1|1|unix|/s|grpc|abc").unwrap();
        assert_eq!(line.server_cert, None);
    }

    #[test]
    fn four_fields_mean_netrpc() {
        let line = HandshakeLine::parse("1|1|tcp|127.0.0.1:1").unwrap();
        assert_eq!(line.protocol, "netrpc");
    }

    #[test]
    fn format_then_parse_is_identity_with_multiplex() {
        let line = sample(Some(vec![1; 80]), Some(false));
        assert_eq!(HandshakeLine::parse(&line.format()).unwrap(), line);
    }

    #[test]
    fn garbage_is_rejected_with_the_line_in_the_error() {
        let err =
            HandshakeLine::parse("Incorrect Usage: flag provided but not defined").unwrap_err();
        assert!(matches!(err, HandshakeError::Unrecognized { .. }));
        assert!(err.to_string().contains("Incorrect Usage"));
    }

    #[test]
    fn bad_fields_are_named() {
        assert_eq!(
            HandshakeLine::parse("x|1|unix|/s|grpc|").unwrap_err(),
            HandshakeError::BadCoreVersion("x".into())
        );
        assert_eq!(
            HandshakeLine::parse("1|y|unix|/s|grpc|").unwrap_err(),
            HandshakeError::BadAppVersion("y".into())
        );
        assert_eq!(
            HandshakeLine::parse("1|1|udp|/s|grpc|").unwrap_err(),
            HandshakeError::UnknownNetwork("udp".into())
        );
        assert_eq!(
            HandshakeLine::parse("1|1|unix||grpc|").unwrap_err(),
            HandshakeError::EmptyAddress
        );
        let bad_cert = format!("1|1|unix|/s|grpc|{}", "!".repeat(60));
        assert!(matches!(
            HandshakeLine::parse(&bad_cert).unwrap_err(),
            HandshakeError::BadCertificate(_)
        ));
        assert_eq!(
            HandshakeLine::parse("1|1|unix|/s|grpc||maybe").unwrap_err(),
            HandshakeError::BadMultiplex("maybe".into())
        );
    }

    #[test]
    fn long_garbage_is_truncated_in_the_error() {
        let err = HandshakeLine::parse(&"é".repeat(10_000)).unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
    }
}
