//! go-plugin AutoMTLS: certificates and pinned rustls configurations.
//!
//! With AutoMTLS each side makes a fresh self-signed certificate: the host
//! passes its own in `PLUGIN_CLIENT_CERT` (PEM), the plugin prints its own in
//! the handshake line (DER, base64). Each side then trusts exactly the other's
//! certificate and nothing else.
//!
//! go-plugin's certificates are ECDSA P-521 with `CA:TRUE`. Two consequences
//! shape this module: the crypto provider must verify P-521 signatures (rustls's
//! aws-lc-rs provider does, ring does not), and webpki path building rejects a
//! CA certificate used as an end entity. So the peer is verified by comparing
//! its DER byte for byte with the pinned certificate, and the handshake
//! signatures are checked with the provider's algorithms. ALPN `h2` is set on
//! both sides, as newer grpc-go requires.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// The server name both sides use: go-plugin certificates carry the SAN `localhost`.
pub const SERVER_NAME: &str = "localhost";

/// Why AutoMTLS material could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum MtlsError {
    #[error("generating the AutoMTLS certificate: {0}")]
    Generate(String),
    #[error("PLUGIN_CLIENT_CERT holds no PEM certificate")]
    NoCertificateInPem,
    #[error("reading the PEM certificate: {0}")]
    BadPem(String),
    #[error("building the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A self-signed certificate and its private key, as go-plugin makes them.
pub struct Identity {
    pub cert_der: CertificateDer<'static>,
    pub cert_pem: String,
    key_der: PrivatePkcs8KeyDer<'static>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cert_der_len", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Makes an ECDSA P-521 self-signed certificate shaped like go-plugin's:
    /// CN and SAN `localhost`, O `HashiCorp`, CA, client and server auth,
    /// valid from 30 s ago for ~30 years, random 128-bit serial.
    pub fn generate() -> Result<Identity, MtlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DistinguishedName as Dn, DnType,
            ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
        };
        let generate_err = |err: rcgen::Error| MtlsError::Generate(err.to_string());
        let key_pair =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).map_err(generate_err)?;
        let mut params =
            CertificateParams::new(vec![SERVER_NAME.to_owned()]).map_err(generate_err)?;
        let mut name = Dn::new();
        name.push(DnType::CommonName, SERVER_NAME);
        name.push(DnType::OrganizationName, "HashiCorp");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
            KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::seconds(30);
        params.not_after = now + time::Duration::hours(262_980);
        let mut serial = [0u8; 16];
        provider()
            .secure_random
            .fill(&mut serial)
            .map_err(|err| MtlsError::Generate(format!("random serial: {err:?}")))?;
        serial[0] &= 0x7f; // keep the DER INTEGER positive
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let cert = params.self_signed(&key_pair).map_err(generate_err)?;
        Ok(Identity {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_der: PrivatePkcs8KeyDer::from(key_pair.serialize_der()),
        })
    }

    fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key_der.clone_key())
    }

    /// A client configuration presenting this identity and trusting only `server_cert`.
    pub fn client_config(
        &self,
        server_cert: CertificateDer<'static>,
    ) -> Result<rustls::ClientConfig, MtlsError> {
        let provider = provider();
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedPeer::new(server_cert, provider)))
            .with_client_auth_cert(vec![self.cert_der.clone()], self.private_key())?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }

    /// A server configuration presenting this identity and requiring a client
    /// certificate equal to `client_cert`.
    pub fn server_config(
        &self,
        client_cert: CertificateDer<'static>,
    ) -> Result<rustls::ServerConfig, MtlsError> {
        let provider = provider();
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(Arc::new(PinnedPeer::new(client_cert, provider)))
            .with_single_cert(vec![self.cert_der.clone()], self.private_key())?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

/// The crypto provider Plexus uses for AutoMTLS: aws-lc-rs (it has P-521).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads the first certificate of a PEM text (the form of `PLUGIN_CLIENT_CERT`).
pub fn first_cert_from_pem(pem: &str) -> Result<CertificateDer<'static>, MtlsError> {
    let mut reader = pem.as_bytes();
    let first = rustls_pemfile::certs(&mut reader).next();
    match first {
        Some(Ok(cert)) => Ok(cert),
        Some(Err(err)) => Err(MtlsError::BadPem(err.to_string())),
        None => Err(MtlsError::NoCertificateInPem),
    }
}

/// Accepts exactly one peer certificate, compared as DER bytes, and checks the
/// handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct PinnedPeer {
    pinned: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl PinnedPeer {
    fn new(pinned: CertificateDer<'static>, provider: Arc<CryptoProvider>) -> Self {
        PinnedPeer { pinned, provider }
    }

    fn check(&self, presented: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if presented.as_ref() == self.pinned.as_ref() {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn tls12(
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

    fn tls13(
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

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ServerCertVerifier for PinnedPeer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

impl ClientCertVerifier for PinnedPeer {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: a Go client then offers its only certificate.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|()| ClientCertVerified::assertion())
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_round_trips_through_pem() {
        let identity = Identity::generate().unwrap();
        let from_pem = first_cert_from_pem(&identity.cert_pem).unwrap();
        assert_eq!(from_pem, identity.cert_der);
    }

    #[test]
    fn pem_without_certificate_is_a_clear_error() {
        assert!(matches!(
            first_cert_from_pem("hello"),
            Err(MtlsError::NoCertificateInPem)
        ));
    }

    #[test]
    fn configs_build_and_offer_h2() {
        let host = Identity::generate().unwrap();
        let plugin = Identity::generate().unwrap();
        let client = host.client_config(plugin.cert_der.clone()).unwrap();
        let server = plugin.server_config(host.cert_der.clone()).unwrap();
        assert_eq!(client.alpn_protocols, vec![b"h2".to_vec()]);
        assert_eq!(server.alpn_protocols, vec![b"h2".to_vec()]);
    }

    #[test]
    fn pinned_peer_accepts_only_the_exact_certificate() {
        let a = Identity::generate().unwrap();
        let b = Identity::generate().unwrap();
        let pin = PinnedPeer::new(a.cert_der.clone(), provider());
        assert!(pin.check(&a.cert_der).is_ok());
        assert!(pin.check(&b.cert_der).is_err());
    }
}
