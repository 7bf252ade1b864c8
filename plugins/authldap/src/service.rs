//! The gRPC `proto.Auth` service: each RPC goes to the directories and
//! comes back as an SFTPGo answer (user JSON, empty for "no change") or an
//! error status. TLS certificates answer "not implemented". Requests are
//! never logged whole: they carry passwords.

use std::sync::Arc;

use plexus_sdk::auth::{
    Auth, AuthResponse, CheckUserAndKeyboardInteractiveRequest, CheckUserAndPassRequest,
    CheckUserAndPublicKeyRequest, CheckUserAndTlsCertRequest, KeyboardAuthRequest,
    KeyboardAuthResponse,
};
use plexus_sdk::{async_trait, Request, Response, Status};

use crate::error::AuthError;
use crate::multi::Directories;

/// The plugin's auth service.
#[derive(Clone)]
pub struct LdapAuth {
    directories: Arc<Directories>,
}

impl LdapAuth {
    pub fn new(directories: Arc<Directories>) -> Self {
        LdapAuth { directories }
    }
}

fn user(
    result: Result<Vec<u8>, AuthError>,
    username: &str,
    method: &str,
) -> Result<Response<AuthResponse>, Status> {
    match result {
        Ok(user) => {
            tracing::debug!(
                user = username,
                method,
                changed = !user.is_empty(),
                "login accepted"
            );
            Ok(Response::new(AuthResponse { user }))
        }
        Err(err) => {
            tracing::debug!(user = username, method, "login refused: {err}");
            Err(err.to_status())
        }
    }
}

#[async_trait]
impl Auth for LdapAuth {
    async fn check_user_and_pass(
        &self,
        request: Request<CheckUserAndPassRequest>,
    ) -> Result<Response<AuthResponse>, Status> {
        let r = request.into_inner();
        let result = self
            .directories
            .check_password(&r.username, &r.password, &r.user)
            .await;
        user(result, &r.username, "password")
    }

    async fn check_user_and_tls_cert(
        &self,
        _request: Request<CheckUserAndTlsCertRequest>,
    ) -> Result<Response<AuthResponse>, Status> {
        Err(AuthError::NotImplemented.to_status())
    }

    async fn check_user_and_public_key(
        &self,
        request: Request<CheckUserAndPublicKeyRequest>,
    ) -> Result<Response<AuthResponse>, Status> {
        let r = request.into_inner();
        let result = self
            .directories
            .check_public_key(&r.username, &r.pub_key, &r.user)
            .await;
        user(result, &r.username, "public key")
    }

    async fn check_user_and_keyboard_interactive(
        &self,
        request: Request<CheckUserAndKeyboardInteractiveRequest>,
    ) -> Result<Response<AuthResponse>, Status> {
        let r = request.into_inner();
        let result = self
            .directories
            .check_keyboard_interactive(&r.username, &r.user)
            .await;
        user(result, &r.username, "keyboard-interactive")
    }

    async fn send_keyboard_auth_request(
        &self,
        request: Request<KeyboardAuthRequest>,
    ) -> Result<Response<KeyboardAuthResponse>, Status> {
        let r = request.into_inner();
        match self
            .directories
            .keyboard_step(&r.username, &r.answers, r.step)
            .await
        {
            Ok(answer) => Ok(Response::new(answer)),
            Err(err) => {
                tracing::debug!(user = %r.username, step = r.step, "keyboard-interactive step refused: {err}");
                Err(err.to_status())
            }
        }
    }
}
