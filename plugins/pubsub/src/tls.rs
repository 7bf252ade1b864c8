//! One rustls client configuration from the plugin 1.2.0 TLS settings,
//! shared by the brokers whose clients take a `rustls::ClientConfig`.
//!
//! - The system's trusted roots, plus `TLS_ROOT_CERT` when set (as the Go
//!   plugin adds its CA to the system pool).
//! - `TLS_CLIENT_CERT` / `TLS_CLIENT_KEY`: a client certificate for mutual
//!   TLS.
//! - `TLS_SERVER_NAME`: the certificate is checked against this name rather
//!   than the host dialled (brokers reached by IP, a load balancer, a tunnel).
//! - `TLS_SKIP_VERIFY`: any certificate is accepted; the handshake
//!   signatures are still checked. For diagnostics only, and logged.
//!
//! TLS 1.2 and 1.3 only (the Go plugin's minimum is 1.2), with the aws-lc-rs
//! provider chosen explicitly, so a second provider compiled in elsewhere
//! never makes rustls guess. Errors name the variable and the file, never
//! what the file holds.

use crate::config::{TlsSettings, ENV_PREFIX};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// Makes aws-lc-rs the process's default rustls provider. Both ring and
/// aws-lc-rs are compiled in (the broker crates ask for different ones),
/// and a client that builds its own rustls configuration (async-nats for a
/// `tls://` URL without TLS settings, lapin for `amqps://`) would otherwise
/// panic. Idempotent.
pub fn install_default_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read(variable: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|err| {
        format!(
            "{ENV_PREFIX}{variable}: cannot read {}: {}",
            path.display(),
            err.kind()
        )
    })
}

fn certificates(variable: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(variable, path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            format!(
                "{ENV_PREFIX}{variable}: {} is not a PEM certificate file",
                path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "{ENV_PREFIX}{variable}: no PEM certificate in {}",
            path.display()
        ));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read("TLS_CLIENT_KEY", path)?;
    match rustls_pemfile::private_key(&mut pem.as_slice()) {
        Ok(Some(key)) => Ok(key),
        _ => Err(format!(
            "{ENV_PREFIX}TLS_CLIENT_KEY: no PEM private key in {}",
            path.display()
        )),
    }
}

/// The PEM files of the settings, checked (a CA certificate, a client
/// certificate and its key) and read, for clients that take PEM bytes
/// rather than a rustls configuration: (CA, client certificate, key).
pub type PemFiles = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

pub fn pem_files(settings: &TlsSettings) -> Result<PemFiles, String> {
    let ca = match &settings.root_cert {
        Some(path) => {
            certificates("TLS_ROOT_CERT", path)?;
            Some(read("TLS_ROOT_CERT", path)?)
        }
        None => None,
    };
    let (cert, key) = match (&settings.client_cert, &settings.client_key) {
        (Some(cert), Some(key)) => {
            certificates("TLS_CLIENT_CERT", cert)?;
            private_key(key)?;
            (
                Some(read("TLS_CLIENT_CERT", cert)?),
                Some(read("TLS_CLIENT_KEY", key)?),
            )
        }
        _ => (None, None),
    };
    Ok((ca, cert, key))
}

/// The trusted roots: the system's, plus the configured CA.
fn roots(settings: &TlsSettings) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system certificate webpki cannot use is skipped, as Go skips it.
        let _ = roots.add(cert);
    }
    if let Some(path) = &settings.root_cert {
        for cert in certificates("TLS_ROOT_CERT", path)? {
            roots.add(cert).map_err(|_| {
                format!(
                    "{ENV_PREFIX}TLS_ROOT_CERT: {} holds a certificate that is not a usable CA",
                    path.display()
                )
            })?;
        }
    }
    Ok(roots)
}

/// Builds the client configuration.
pub fn client_config(settings: &TlsSettings) -> Result<ClientConfig, String> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = if settings.skip_verify {
        tracing::warn!(
            "{ENV_PREFIX}TLS_SKIP_VERIFY is set: the server's certificate is not verified"
        );
        Arc::new(AcceptAnyCertificate {
            provider: provider.clone(),
        })
    } else {
        let roots = roots(settings)?;
        if roots.is_empty() {
            return Err(format!(
                "no trusted root certificate: the system has none; set {ENV_PREFIX}TLS_ROOT_CERT"
            ));
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|err| format!("cannot build the TLS certificate verifier: {err}"))?;
        match &settings.server_name {
            Some(name) => {
                let name = ServerName::try_from(name.clone()).map_err(|_| {
                    format!(
                        "{ENV_PREFIX}TLS_SERVER_NAME: {name:?} is not a host name or IP address"
                    )
                })?;
                Arc::new(ExpectedName {
                    inner: webpki,
                    name,
                })
            }
            None => webpki,
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("cannot configure TLS: {err}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (&settings.client_cert, &settings.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certificates("TLS_CLIENT_CERT", cert)?;
            let key = private_key(key)?;
            builder.with_client_auth_cert(chain, key).map_err(|_| {
                format!(
                    "{ENV_PREFIX}TLS_CLIENT_CERT and {ENV_PREFIX}TLS_CLIENT_KEY: the key does not \
                     match the certificate or is of an unsupported type"
                )
            })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// Checks the certificate against `TLS_SERVER_NAME` instead of the host
/// the client dialled.
#[derive(Debug)]
struct ExpectedName {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for ExpectedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _dialled: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `TLS_SKIP_VERIFY`: any certificate, but a real handshake signature.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
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
    use std::path::PathBuf;

    fn settings() -> TlsSettings {
        TlsSettings::default()
    }

    #[test]
    fn bad_files_are_named_without_their_contents() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("client.key");
        std::fs::write(&secret, "private-key-material").unwrap();
        let mut s = settings();
        s.client_cert = Some(secret.clone());
        s.client_key = Some(secret.clone());
        s.skip_verify = true;
        let err = client_config(&s).unwrap_err();
        assert!(err.contains("TLS_CLIENT_CERT"), "{err}");
        assert!(!err.contains("private-key-material"), "{err}");

        let mut s = settings();
        s.root_cert = Some(secret.clone());
        let err = client_config(&s).unwrap_err();
        assert!(err.contains("TLS_ROOT_CERT"), "{err}");
        assert!(!err.contains("private-key-material"), "{err}");

        let mut s = settings();
        s.root_cert = Some(PathBuf::from("/nonexistent/ca.pem"));
        let err = client_config(&s).unwrap_err();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_ca_and_a_client_certificate_load() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert_file = dir.path().join("c.pem");
        let key_file = dir.path().join("k.pem");
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let s = TlsSettings {
            root_cert: Some(cert_file.clone()),
            client_cert: Some(cert_file),
            client_key: Some(key_file),
            server_name: Some("broker.internal".into()),
            skip_verify: false,
        };
        let config = client_config(&s).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
    }
}
