//! `auth-users`: an external authentication plugin backed by a users file,
//! for SFTPGo or Plexus: users log in with an argon2-hashed password, an SSH
//! public key, a TLS client certificate or a keyboard-interactive password
//! prompt, without the users living in the server's own database.
//!
//! ```text
//! auth-users --users PATH            serve (started by the host)
//! auth-users hash-password           read a password on stdin, print its hash
//! ```
//!
//! The file format is in `plexus_examples::users`. It answers every method
//! of SFTPGo's auth service: password, public key (authorized_keys form),
//! TLS certificate (PEM; by certificate, SHA-256 fingerprint or subject CN),
//! and keyboard-interactive in two steps (step 1 asks for the password with
//! `check_password` 0, so the answer comes back to the plugin, which checks
//! it; step 2 answers `auth_result` 1 or -1). Success returns the SFTPGo
//! user as JSON; failure is `UNAUTHENTICATED`. The file is read at start.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use plexus_examples::users::{hash_password, Certificate, User, UsersFile};
use plexus_sdk::auth::{
    Auth, AuthResponse, AuthServer, CheckUserAndKeyboardInteractiveRequest,
    CheckUserAndPassRequest, CheckUserAndPublicKeyRequest, CheckUserAndTlsCertRequest,
    KeyboardAuthRequest, KeyboardAuthResponse,
};
use plexus_sdk::{async_trait, PluginKind, PluginServer, Request, Response, Status};

const NAME: &str = "auth-users";

/// The question of the keyboard-interactive flow.
const PASSWORD_PROMPT: &str = "Password: ";

#[derive(Debug, Parser)]
#[command(
    name = NAME,
    version,
    about = "An SFTPGo/Plexus auth plugin backed by a users file",
    long_about = "An SFTPGo/Plexus auth plugin backed by a users file.\n\n\
        Started by the host (it refuses to run by hand, except for hash-password). \
        It checks passwords (argon2 PHC hashes), SSH public keys, TLS client \
        certificates (PEM, SHA-256 fingerprint or subject CN) and a two-step \
        keyboard-interactive password prompt, and returns the SFTPGo user \
        ({\"status\":1,\"username\",\"home_dir\",\"permissions\":{\"/\":[\"*\"]}}) \
        on success, UNAUTHENTICATED otherwise.",
    after_help = "The users file:\n  \
        {\"users\": [{\"username\": \"alice\", \"password_hash\": \"$argon2id$...\",\n  \
        \"public_keys\": [\"ssh-ed25519 AAAA... alice@laptop\"],\n  \
        \"tls_fingerprints\": [\"5e:3a:...\"], \"tls_common_names\": [\"alice\"],\n  \
        \"tls_certs\": [\"-----BEGIN CERTIFICATE-----...\"], \"home_dir\": \"/srv/sftp/alice\"}]}\n\n\
        Make a hash:  printf '%s' 'the password' | auth-users hash-password\n\n\
        In the host's plugins config:\n  \
        {\"type\": \"auth\", \"cmd\": \"/usr/local/bin/auth-users\",\n   \
        \"args\": [\"--users\", \"/etc/sftpgo/users.json\"], \"auto_mtls\": true,\n   \
        \"auth_options\": {\"scope\": 15}}\n\
        (scope bits: 1 password, 2 public key, 4 keyboard-interactive, 8 TLS certificate; \
        SFTPGo sends the keyboard-interactive steps to the first plugin with the password bit)"
)]
struct Args {
    /// The users file (JSON), read once at start.
    #[arg(long, value_name = "PATH")]
    users: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read a password from stdin (one line) and print its argon2 hash for the users file.
    HashPassword,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::HashPassword) = args.command {
        return print_hash();
    }
    if let Err(err) = plexus_sdk::check_cookie(PluginKind::Auth) {
        err.report(PluginKind::Auth);
        return err.exit_code();
    }
    plexus_sdk::logging::init(NAME);
    let Some(path) = args.users else {
        return fatal("--users PATH is required");
    };
    let origin = path.display().to_string();
    let file = match std::fs::read_to_string(&path)
        .map_err(|err| format!("cannot read {origin}: {err}"))
        .and_then(|text| UsersFile::parse(&text, &origin))
    {
        Ok(file) => file,
        Err(err) => return fatal(&err),
    };
    tracing::info!(users = file.users.len(), file = %origin, "auth plugin starting");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fatal(&format!("cannot start the async runtime: {err}")),
    };
    let auth = UsersAuth {
        file: Arc::new(file),
    };
    runtime.block_on(PluginServer::new(AuthServer::new(auth)).run())
}

fn print_hash() -> ExitCode {
    let mut line = String::new();
    if let Err(err) = std::io::stdin().lock().read_line(&mut line) {
        return fatal(&format!("cannot read the password from stdin: {err}"));
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return fatal("the password is empty (give it on stdin)");
    }
    match hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(err) => fatal(&err),
    }
}

/// One `[ERROR]` line on stderr (a go-plugin host maps the prefix), exit 1.
fn fatal(message: &str) -> ExitCode {
    eprintln!("[ERROR] {NAME}: {message}");
    ExitCode::FAILURE
}

struct UsersAuth {
    file: Arc<UsersFile>,
}

fn denied(username: &str) -> Status {
    Status::unauthenticated(format!("invalid credentials for user {username:?}"))
}

fn accept(user: &User) -> Result<Response<AuthResponse>, Status> {
    Ok(Response::new(AuthResponse {
        user: user.sftpgo_json(),
    }))
}

impl UsersAuth {
    fn user(&self, username: &str) -> Result<&User, Status> {
        self.file.find(username).ok_or_else(|| denied(username))
    }

    /// Checks a password off the async threads (argon2 is deliberately slow).
    async fn password_user(&self, username: String, password: String) -> Option<User> {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.check_password(&username, &password).cloned())
            .await
            .ok()
            .flatten()
    }
}

#[async_trait]
impl Auth for UsersAuth {
    async fn check_user_and_pass(
        &self,
        request: Request<CheckUserAndPassRequest>,
    ) -> Result<Response<AuthResponse>, Status> {
        let r = request.into_inner();
        match self.password_user(r.username.clone(), r.password).await {
            Some(user) => accept(&user),
            None => Err(denied(&r.username)),
        }
    }

    async fn check_user_and_tls_cert(
        &self,
        request: Request<CheckUserAndTlsCertRequest>,
    ) -> Result<Response<AuthResponse>, Status> {
        let r = request.into_inner();
        let user = self.user(&r.username)?;
        let cert = Certificate::from_pem(&r.tls_cert).map_err(|err| {
            Status::unauthenticated(format!(
                "user {:?}: the TLS certificate cannot be read: {err}",
                r.username
            ))
        })?;
        if user.accepts_certificate(&cert) {
            accept(user)
        } else {
            Err(denied(&r.username))
        }
    }

    async fn check_user_and_public_key(
        &self,
        request: Request<CheckUserAndPublicKeyRequest>,
    ) -> Result<Response<AuthResponse>, Status> {
        let r = request.into_inner();
        let user = self.user(&r.username)?;
        if user.has_public_key(&r.pub_key) {
            accept(user)
        } else {
            Err(denied(&r.username))
        }
    }

    async fn check_user_and_keyboard_interactive(
        &self,
        request: Request<CheckUserAndKeyboardInteractiveRequest>,
    ) -> Result<Response<AuthResponse>, Status> {
        // Only users with a password can answer the prompt.
        let r = request.into_inner();
        match self.user(&r.username)? {
            user if !user.password_hash.is_empty() => accept(user),
            _ => Err(denied(&r.username)),
        }
    }

    async fn send_keyboard_auth_request(
        &self,
        request: Request<KeyboardAuthRequest>,
    ) -> Result<Response<KeyboardAuthResponse>, Status> {
        let r = request.into_inner();
        let response = if r.step <= 1 {
            self.user(&r.username)?;
            KeyboardAuthResponse {
                instructions: "Log in with your password".into(),
                questions: vec![PASSWORD_PROMPT.into()],
                echos: vec![false],
                auth_result: 0,
                // 0: the answer comes back to the plugin (1 would make the
                // host check it against its own stored password).
                check_password: 0,
            }
        } else {
            let ok = match <[String; 1]>::try_from(r.answers) {
                Ok([answer]) => self.password_user(r.username, answer).await.is_some(),
                Err(_) => false,
            };
            KeyboardAuthResponse {
                auth_result: if ok { 1 } else { -1 },
                ..Default::default()
            }
        };
        Ok(Response::new(response))
    }
}
