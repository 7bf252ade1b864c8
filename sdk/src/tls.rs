//! AutoMTLS on the plugin side.
//!
//! When the host sets `PLUGIN_CLIENT_CERT` (its own certificate, PEM), the
//! plugin makes a fresh go-plugin-shaped certificate (ECDSA P-521, CN/SAN
//! `localhost`), requires every client to present exactly the host's
//! certificate (compared byte for byte: see `plexus_proto::mtls` for why not
//! webpki), offers ALPN `h2`, and prints its own certificate in the handshake
//! line. Unset or blank: plain gRPC, as go-plugin.

use std::sync::Arc;

use plexus_proto::mtls::{first_cert_from_pem, Identity};
use rustls::pki_types::CertificateDer;
use tokio_rustls::TlsAcceptor;

use crate::env::Var;
use crate::error::ServeError;

/// The plugin's side of AutoMTLS: how to accept, and what to print.
pub(crate) struct AutoMtls {
    pub acceptor: TlsAcceptor,
    /// The plugin's certificate (DER), for the handshake line's 6th field.
    pub server_cert: CertificateDer<'static>,
}

/// Builds the TLS acceptor when the host asked for AutoMTLS.
pub(crate) fn setup(client_cert: &Var) -> Result<Option<AutoMtls>, ServeError> {
    let pem = match client_cert {
        Var::Unset => return Ok(None),
        Var::NotUnicode => {
            return Err(ServeError::InvalidVariable {
                name: "PLUGIN_CLIENT_CERT",
                reason: "the value is not valid UTF-8 (expected a PEM certificate)".into(),
            })
        }
        Var::Set(pem) if pem.trim().is_empty() => return Ok(None),
        Var::Set(pem) => pem,
    };
    let host_cert = first_cert_from_pem(pem)?;
    let identity = Identity::generate()?;
    let config = identity.server_config(host_cert)?;
    Ok(Some(AutoMtls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        server_cert: identity.cert_der.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_blank_means_plain() {
        assert!(setup(&Var::Unset).unwrap().is_none());
        assert!(setup(&Var::from(" \n")).unwrap().is_none());
    }

    #[test]
    fn a_pem_enables_mtls_with_a_fresh_certificate() {
        let host = Identity::generate().unwrap();
        let mtls = setup(&Var::from(host.cert_pem.as_str())).unwrap().unwrap();
        assert_ne!(mtls.server_cert, host.cert_der);
        assert!(mtls.server_cert.len() > 50);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = setup(&Var::from("not a certificate")).err().unwrap();
        assert!(err.to_string().contains("PLUGIN_CLIENT_CERT"), "{err}");
        assert!(setup(&Var::NotUnicode).is_err());
    }
}
