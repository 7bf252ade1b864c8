//! Reading and checking the plugin's handshake line (host side).
//!
//! The first line on the plugin's stdout is its handshake. It must arrive
//! within the start timeout, name core protocol 1, an app protocol the host
//! offered, and the `grpc` protocol. The format itself lives in
//! `plexus_proto::handshake`; this module holds the host's policy.

use super::logs::read_capped_line;
use super::Step;
use plexus_proto::handshake::MAX_HANDSHAKE_LINE;
use plexus_proto::HandshakeLine;
use tokio::io::AsyncBufRead;

/// The app protocol versions this host offers (`PLUGIN_PROTOCOL_VERSIONS`).
pub const OFFERED_APP_VERSIONS: [u32; 1] = [plexus_proto::cookie::APP_PROTOCOL_VERSION];

/// What came of waiting for the handshake line.
#[derive(Debug)]
pub enum FirstLine {
    Line(String),
    /// stdout closed before any line: the plugin exited or closed it.
    Closed,
}

/// Reads the first stdout line, capped at go-plugin's sensible maximum.
pub async fn read_first_line<R: AsyncBufRead + Unpin>(
    stdout: &mut R,
) -> std::io::Result<FirstLine> {
    match read_capped_line(stdout, MAX_HANDSHAKE_LINE).await? {
        Some(line) => Ok(FirstLine::Line(line.to_text())),
        None => Ok(FirstLine::Closed),
    }
}

/// Parses the line and checks it against what this host speaks.
pub fn negotiate(raw: &str, auto_mtls: bool) -> Result<HandshakeLine, (Step, String)> {
    let line = HandshakeLine::parse(raw).map_err(|err| (Step::BadHandshake, err.to_string()))?;
    if line.core_version != plexus_proto::cookie::CORE_PROTOCOL_VERSION {
        return Err((
            Step::VersionMismatch,
            format!(
                "incompatible core API version with plugin: plugin speaks {}, host speaks {}",
                line.core_version,
                plexus_proto::cookie::CORE_PROTOCOL_VERSION
            ),
        ));
    }
    if !OFFERED_APP_VERSIONS.contains(&line.app_version) {
        return Err((
            Step::VersionMismatch,
            format!(
                "incompatible API version with plugin: plugin version {}, host versions {:?}",
                line.app_version, OFFERED_APP_VERSIONS
            ),
        ));
    }
    if line.protocol != "grpc" {
        return Err((
            Step::BadHandshake,
            format!(
                "unsupported plugin protocol {:?}: only grpc is supported",
                line.protocol
            ),
        ));
    }
    if auto_mtls && line.server_cert.is_none() {
        return Err((
            Step::Tls,
            "auto_mtls is on but the plugin printed no certificate in its handshake line".into(),
        ));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_plain_grpc_line() {
        let line = negotiate("1|1|unix|/tmp/p|grpc|", false).unwrap();
        assert_eq!(line.address, "/tmp/p");
    }

    #[test]
    fn rejects_versions_protocols_and_missing_certificate() {
        assert_eq!(
            negotiate("2|1|unix|/p|grpc|", false).unwrap_err().0,
            Step::VersionMismatch
        );
        assert_eq!(
            negotiate("1|3|unix|/p|grpc|", false).unwrap_err().0,
            Step::VersionMismatch
        );
        assert_eq!(
            negotiate("1|1|unix|/p|netrpc|", false).unwrap_err().0,
            Step::BadHandshake
        );
        assert_eq!(
            negotiate("1|1|unix|/p", false).unwrap_err().0,
            Step::BadHandshake
        );
        assert_eq!(negotiate("hello", false).unwrap_err().0, Step::BadHandshake);
        assert_eq!(
            negotiate("1|1|unix|/p|grpc|", true).unwrap_err().0,
            Step::Tls
        );
    }
}
