//! The TLS client configuration used for `ldaps://` and StartTLS: the
//! system's trusted roots plus the extra CA files (absolute PEM paths; a
//! missing or unparsable file stops the start, as in the Go plugin), or,
//! with `skip_tls_verify`, any certificate (signatures are still checked,
//! so the handshake itself stays sound). rustls with aws-lc-rs, the crypto
//! provider of the rest of Plexus.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Builds the client configuration. `setting` names the CA setting in
/// errors.
pub fn client_config(
    ca_certificates: &[PathBuf],
    skip_verify: bool,
    setting: &str,
) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("cannot set up TLS: {err}"))?;
    let config = if skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(ca_certificates, setting)?)
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The system roots (when they can be read) plus the extra CA files.
fn roots(ca_certificates: &[PathBuf], setting: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    for cert in system.certs {
        // A system certificate rustls cannot use is skipped, as Go does.
        let _ = roots.add(cert);
    }
    for path in ca_certificates {
        let pem = std::fs::read(path).map_err(|err| {
            format!(
                "{setting}: unable to load CA certificate {}: {err}",
                path.display()
            )
        })?;
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|err| format!("{setting}: {} is not a PEM file: {err}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "{setting}: unable to add CA certificate {} to the trusted certificates: \
                 no certificate in it",
                path.display()
            ));
        }
        for cert in certs {
            roots.add(cert).map_err(|err| {
                format!(
                    "{setting}: unable to add CA certificate {} to the trusted certificates: {err}",
                    path.display()
                )
            })?;
        }
    }
    Ok(roots)
}

/// `skip_tls_verify`: any certificate and name, signatures still checked.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_must_exist_and_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("authldap-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let err = client_config(&[missing], false, "ca").unwrap_err();
        assert!(err.contains("unable to load CA certificate"), "{err}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let err = client_config(&[empty], false, "ca").unwrap_err();
        assert!(err.contains("no certificate in it"), "{err}");
        assert!(client_config(&[], true, "ca").is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
