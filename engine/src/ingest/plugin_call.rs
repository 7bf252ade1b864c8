//! One request to the engine's request/response plugins, described as data
//! (`plexus.v1.CallRequest`): what `plexus call` runs, either against an
//! engine it started itself or, through the admin API's `Call`, against a
//! running daemon's plugins. Both paths go through [`dispatch`], so a call
//! is routed the same way wherever it runs (auth by scope, KMS by URL or
//! status, every IP filter, the events searcher).

use crate::engine::{Engine, EngineError};
use plexus_actors::service::CallError;
use plexus_proto::plexus::v1::{call_reply, call_request, CallReply, CallRequest, KmsEncrypted};
use tonic::Status;

/// Runs `request` on `engine`'s plugins.
pub async fn dispatch(engine: &Engine, request: CallRequest) -> Result<CallReply, EngineError> {
    use call_reply::Reply;
    use call_request::Request;
    let request = request.request.ok_or_else(|| {
        EngineError::NoPlugin("the call names no request (CallRequest.request is empty)".into())
    })?;
    let reply = match request {
        Request::Password(request) => Reply::User(engine.check_user_and_pass(request).await?),
        Request::PublicKey(request) => {
            Reply::User(engine.check_user_and_public_key(request).await?)
        }
        Request::TlsCert(request) => Reply::User(engine.check_user_and_tls_cert(request).await?),
        Request::KeyboardInteractive(request) => {
            Reply::User(engine.check_user_and_keyboard_interactive(request).await?)
        }
        Request::KeyboardStep(request) => {
            Reply::KeyboardStep(engine.send_keyboard_auth_request(request).await?)
        }
        Request::KmsEncrypt(request) => {
            let (response, status) = engine.kms_encrypt(request).await?;
            Reply::KmsEncrypted(KmsEncrypted {
                response: Some(response),
                status,
            })
        }
        Request::KmsDecrypt(decrypt) => Reply::KmsDecrypted(
            engine
                .kms_decrypt(&decrypt.status, decrypt.request.unwrap_or_default())
                .await?,
        ),
        Request::CheckIp(request) => {
            engine.check_ip(&request.ip, &request.protocol).await?;
            Reply::IpAllowed(())
        }
        Request::SearchFs(filter) => Reply::Events(engine.search_fs_events(filter).await?),
        Request::SearchProvider(filter) => {
            Reply::Events(engine.search_provider_events(filter).await?)
        }
        Request::SearchLog(filter) => Reply::Events(engine.search_log_events(filter).await?),
    };
    Ok(CallReply { reply: Some(reply) })
}

/// The gRPC status a failed call answers with: the plugin's own status
/// (code and message) when it answered, so the caller sees what SFTPGo
/// would have seen.
pub fn status_of(err: EngineError) -> Status {
    match err {
        EngineError::Call(CallError::Status { plugin, status }) => Status::new(
            status.code(),
            format!("plugin {plugin}: {}", status.message()),
        ),
        EngineError::Call(down @ CallError::Down { .. }) => Status::unavailable(down.to_string()),
        EngineError::NoPlugin(message) => Status::failed_precondition(message),
        EngineError::Stopped => Status::unavailable(err.to_string()),
        other => Status::internal(other.to_string()),
    }
}
