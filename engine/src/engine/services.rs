//! The request/response plugin types: auth, ipfilter, kms and
//! eventsearcher. Each call goes to the plugin's actor and follows the
//! policy SFTPGo applies to it: which plugin is asked, and what a plugin
//! error or a plugin that is down means.

use super::{Engine, EngineError, ServiceEntry};
use crate::clients;
use futures::FutureExt;
use plexus_actors::service::CallError;
use plexus_proto::sftpgo::{
    CheckUserAndKeyboardInteractiveRequest, CheckUserAndPassRequest, CheckUserAndPublicKeyRequest,
    CheckUserAndTlsCertRequest, DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse,
    FsEventsFilter, KeyboardAuthRequest, KeyboardAuthResponse, LogEventsFilter,
    ProviderEventsFilter,
};

impl Engine {
    // ----- auth ------------------------------------------------------------

    /// The first auth plugin (in config order) whose scope has `bit`, as SFTPGo picks.
    fn auth_for(&self, bit: i32, what: &str) -> Result<&ServiceEntry<clients::Auth>, EngineError> {
        self.auth
            .iter()
            .find(|entry| entry.config.auth_options.scope & bit != 0)
            .ok_or_else(|| EngineError::NoPlugin(format!("no auth plugin configured for {what}")))
    }

    /// Password authentication: the SFTPGo user JSON, empty for "no change".
    pub async fn check_user_and_pass(
        &self,
        request: CheckUserAndPassRequest,
    ) -> Result<Vec<u8>, EngineError> {
        self.auth_for(1, "password checking")?
            .call(move |c| async move { c.check_user_and_pass(request).await }.boxed())
            .await
    }

    pub async fn check_user_and_public_key(
        &self,
        request: CheckUserAndPublicKeyRequest,
    ) -> Result<Vec<u8>, EngineError> {
        self.auth_for(2, "public key checking")?
            .call(move |c| async move { c.check_user_and_public_key(request).await }.boxed())
            .await
    }

    pub async fn check_user_and_keyboard_interactive(
        &self,
        request: CheckUserAndKeyboardInteractiveRequest,
    ) -> Result<Vec<u8>, EngineError> {
        self.auth_for(4, "keyboard interactive authentication")?
            .call(move |c| {
                async move { c.check_user_and_keyboard_interactive(request).await }.boxed()
            })
            .await
    }

    /// One keyboard-interactive step. SFTPGo picks the plugin by the
    /// password bit here (a long-standing quirk); Plexus picks it by the
    /// keyboard-interactive bit, as for the first call.
    pub async fn send_keyboard_auth_request(
        &self,
        request: KeyboardAuthRequest,
    ) -> Result<KeyboardAuthResponse, EngineError> {
        self.auth_for(4, "keyboard interactive authentication step")?
            .call(move |c| async move { c.send_keyboard_auth_request(request).await }.boxed())
            .await
    }

    pub async fn check_user_and_tls_cert(
        &self,
        request: CheckUserAndTlsCertRequest,
    ) -> Result<Vec<u8>, EngineError> {
        self.auth_for(8, "TLS certificate checking")?
            .call(move |c| async move { c.check_user_and_tls_cert(request).await }.boxed())
            .await
    }

    // ----- ip filters --------------------------------------------------------

    /// Asks every IP filter plugin; any error denies. A plugin that is not
    /// running allows (with a warning), as SFTPGo does, unless the engine is
    /// configured with `ipfilter_fail_closed`.
    pub async fn check_ip(&self, ip: &str, protocol: &str) -> Result<(), EngineError> {
        let checks = self.ipfilters.iter().map(|entry| {
            let (ip, protocol) = (ip.to_owned(), protocol.to_owned());
            async move {
                let result = entry
                    .call(move |c| async move { c.check_ip(&ip, &protocol).await }.boxed())
                    .await;
                (entry, result)
            }
        });
        for (entry, result) in futures::future::join_all(checks).await {
            match result {
                Ok(()) => {}
                Err(EngineError::Call(CallError::Down { plugin }))
                    if !self.settings.ipfilter_fail_closed =>
                {
                    tracing::warn!(plugin = %plugin, "ip filter plugin {plugin} is not active, cannot check ip {ip}: allowing it");
                }
                Err(EngineError::Call(CallError::Status { plugin, status })) => {
                    return Err(EngineError::Denied {
                        ip: ip.to_owned(),
                        plugin,
                        reason: status.message().to_owned(),
                    })
                }
                Err(other) => {
                    return Err(EngineError::Denied {
                        ip: ip.to_owned(),
                        plugin: entry.name.to_string(),
                        reason: other.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Asks every IP filter plugin to reload its rules (SFTPGo does it on
    /// SIGHUP). Returns the errors, one per plugin that failed.
    pub async fn reload_ip_filters(&self) -> Vec<EngineError> {
        let mut errors = Vec::new();
        for entry in &self.ipfilters {
            if let Err(err) = entry
                .call(|c| async move { c.reload().await }.boxed())
                .await
            {
                tracing::warn!("unable to reload IP filter plugin {}: {err}", entry.name);
                errors.push(err);
            }
        }
        errors
    }

    // ----- kms -------------------------------------------------------------

    /// Encrypts with the KMS plugin whose `scheme` is a prefix of the
    /// request's secrets URL (first in config order). Returns the answer and
    /// the status the secret gets (`encrypted_status`).
    pub async fn kms_encrypt(
        &self,
        request: EncryptRequest,
    ) -> Result<(EncryptResponse, String), EngineError> {
        let entry = self
            .kms
            .iter()
            .find(|entry| request.url.starts_with(&entry.config.kms_options.scheme))
            .ok_or_else(|| {
                EngineError::NoPlugin(format!(
                    "no KMS plugin is registered for the URL {:?}",
                    request.url
                ))
            })?;
        let status = entry.config.kms_options.encrypted_status.clone();
        let response = entry
            .call(move |c| async move { c.encrypt(request).await }.boxed())
            .await?;
        Ok((response, status))
    }

    /// Decrypts with the KMS plugin whose `encrypted_status` is the secret's status.
    pub async fn kms_decrypt(
        &self,
        status: &str,
        request: DecryptRequest,
    ) -> Result<DecryptResponse, EngineError> {
        let entry = self
            .kms
            .iter()
            .find(|entry| entry.config.kms_options.encrypted_status == status)
            .ok_or_else(|| {
                EngineError::NoPlugin(format!(
                    "no KMS plugin handles secrets with status {status:?}"
                ))
            })?;
        entry
            .call(move |c| async move { c.decrypt(request).await }.boxed())
            .await
    }

    // ----- search ----------------------------------------------------------

    fn searcher(&self) -> Result<&ServiceEntry<clients::Searcher>, EngineError> {
        self.searcher
            .as_ref()
            .ok_or_else(|| EngineError::NoPlugin("no events searcher plugin defined".into()))
    }

    /// The plugin's JSON answer, verbatim.
    pub async fn search_fs_events(&self, filter: FsEventsFilter) -> Result<Vec<u8>, EngineError> {
        self.searcher()?
            .call(move |c| async move { c.search_fs_events(filter).await }.boxed())
            .await
    }

    pub async fn search_provider_events(
        &self,
        filter: ProviderEventsFilter,
    ) -> Result<Vec<u8>, EngineError> {
        self.searcher()?
            .call(move |c| async move { c.search_provider_events(filter).await }.boxed())
            .await
    }

    pub async fn search_log_events(&self, filter: LogEventsFilter) -> Result<Vec<u8>, EngineError> {
        self.searcher()?
            .call(move |c| async move { c.search_log_events(filter).await }.boxed())
            .await
    }
}
