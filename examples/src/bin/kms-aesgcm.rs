//! `kms-aesgcm`: a KMS plugin that seals secrets with AES-256-GCM under a
//! key read from a file, for installations without a cloud KMS: the secrets
//! SFTPGo stores in its database (cloud credentials, passwords of remote
//! backends) stay unreadable without a key kept outside that database.
//!
//! ```text
//! kms-aesgcm --key-file PATH
//! ```
//!
//! The key file holds 32 raw bytes or 64 hex digits (`head -c 32
//! /dev/urandom > kms.key`). Encrypt returns `base64(nonce ‖ ciphertext)`
//! with the secret's `additional_data` bound as AAD, `key` empty and `mode`
//! 0; Decrypt reverses it and fails on a wrong key, wrong additional data or
//! a damaged payload, and refuses secrets with a `key` or a `mode` other
//! than 0 (another plugin's master-key layer). The request's `url` and
//! `master_key` are accepted and not used.
//! Configure it with `kms_options.scheme` matching your secrets URL prefix.

use aes_gcm::Aes256Gcm;
use clap::Parser;
use plexus_examples::aesgcm::{decrypt, encrypt, read_key};
use plexus_sdk::kms::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, Kms, KmsServer,
};
use plexus_sdk::{async_trait, PluginKind, PluginServer, Request, Response, Status};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "kms-aesgcm",
    version,
    about = "An SFTPGo/Plexus KMS plugin: AES-256-GCM with a key file",
    long_about = "An SFTPGo/Plexus KMS plugin: AES-256-GCM with a key file.\n\n\
        Started by the host (it refuses to run by hand). Encrypt seals the secret \
        with a random 12-byte nonce and the secret's additional_data as AAD and \
        returns payload = base64(nonce || ciphertext+tag), key = \"\", mode = 0. \
        Decrypt reverses it; a wrong key, other additional data or a changed \
        payload fail with INVALID_ARGUMENT. The url and master_key fields of the \
        requests are accepted and ignored: the key file is the only key.",
    after_help = "Make a key:  head -c 32 /dev/urandom > /etc/sftpgo/kms.key && chmod 600 /etc/sftpgo/kms.key\n\
        (or 64 hex digits: openssl rand -hex 32)\n\n\
        In the host's plugins config, with kms.secrets.url starting with the scheme\n\
        (e.g. \"hashivault://local\"):\n  \
        {\"type\": \"kms\", \"cmd\": \"/usr/local/bin/kms-aesgcm\",\n   \
        \"args\": [\"--key-file\", \"/etc/sftpgo/kms.key\"], \"auto_mtls\": true,\n   \
        \"kms_options\": {\"scheme\": \"hashivault\", \"encrypted_status\": \"VaultTransit\"}}\n\
        Keep the key: secrets sealed with it cannot be opened without it."
)]
struct Args {
    /// The key: 32 raw bytes or 64 hex digits.
    #[arg(long, value_name = "PATH")]
    key_file: PathBuf,
}

struct AesKms {
    cipher: Aes256Gcm,
}

#[async_trait]
impl Kms for AesKms {
    async fn encrypt(
        &self,
        request: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        let request = request.into_inner();
        if request.payload.is_empty() {
            return Err(Status::invalid_argument(
                "nothing to encrypt: the payload is empty",
            ));
        }
        let payload = encrypt(&self.cipher, &request.payload, &request.additional_data)
            .map_err(Status::internal)?;
        Ok(Response::new(EncryptResponse {
            payload,
            key: String::new(),
            mode: 0,
        }))
    }

    async fn decrypt(
        &self,
        request: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        let request = request.into_inner();
        if request.mode != 0 || !request.key.is_empty() {
            return Err(Status::invalid_argument(format!(
                "not a secret of this plugin: mode {} with a key (a master-key layer); \
                 kms-aesgcm seals with mode 0 and no key",
                request.mode
            )));
        }
        let payload = decrypt(&self.cipher, &request.payload, &request.additional_data)
            .map_err(Status::invalid_argument)?;
        Ok(Response::new(DecryptResponse { payload }))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(err) = plexus_sdk::check_cookie(PluginKind::Kms) {
        err.report(PluginKind::Kms);
        return err.exit_code();
    }
    plexus_sdk::logging::init("kms-aesgcm");
    let origin = args.key_file.display().to_string();
    let cipher = match std::fs::read(&args.key_file)
        .map_err(|err| format!("cannot read {origin}: {err}"))
        .and_then(|bytes| read_key(&bytes, &origin))
    {
        Ok(cipher) => cipher,
        Err(err) => {
            eprintln!("[ERROR] kms-aesgcm: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(key_file = %origin, "kms plugin starting");
    if let Ok(meta) = std::fs::metadata(&args.key_file) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(key_file = %origin, "the key file is readable by other users (chmod 600)");
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("[ERROR] kms-aesgcm: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(PluginServer::new(KmsServer::new(AesKms { cipher })).run())
}
