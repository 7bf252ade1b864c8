//! Dialling one LDAP URL: TCP with the connect timeout, TLS for `ldaps://`,
//! StartTLS when configured, and the task that drives the connection. The
//! whole dial, TLS included, is bounded by the connect timeout.

use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError};
use rustls::ClientConfig;

/// Opens connections to the directory's URLs.
pub struct Dialer {
    tls: Arc<ClientConfig>,
    start_tls: bool,
    skip_verify: bool,
    connect_timeout: Duration,
}

impl Dialer {
    pub fn new(
        tls: Arc<ClientConfig>,
        start_tls: bool,
        skip_verify: bool,
        connect_timeout: Duration,
    ) -> Self {
        Dialer {
            tls,
            start_tls,
            skip_verify,
            connect_timeout,
        }
    }

    /// A connected (not yet bound) handle. Its driver task ends when the
    /// last handle is dropped or the server closes the connection.
    pub async fn dial(&self, url: &str) -> Result<Ldap, String> {
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.connect_timeout)
            .set_config(self.tls.clone())
            .set_starttls(self.start_tls)
            .set_no_tls_verify(self.skip_verify);
        let dial = LdapConnAsync::with_settings(settings, url);
        let (conn, ldap) = match tokio::time::timeout(self.connect_timeout, dial).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(err)) => return Err(describe(&err)),
            Err(_) => {
                return Err(format!(
                    "no connection within {} s",
                    self.connect_timeout.as_secs()
                ))
            }
        };
        let url = url.to_owned();
        tokio::spawn(async move {
            if let Err(err) = conn.drive().await {
                tracing::debug!(url = %url, "LDAP connection ended: {}", describe(&err));
            }
        });
        Ok(ldap)
    }
}

/// An ldap3 error as one line (result codes with their text).
pub fn describe(err: &LdapError) -> String {
    match err {
        LdapError::LdapResult { result } => {
            if result.text.is_empty() {
                format!("LDAP result code {}", result.rc)
            } else {
                format!("LDAP result code {}: {}", result.rc, result.text)
            }
        }
        other => other.to_string(),
    }
}
