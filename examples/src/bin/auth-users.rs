//! `auth-users`: an external authentication plugin backed by a users file.
//!
//! ```text
//! auth-users --users PATH            serve (started by the host)
//! auth-users hash-password           read a password on stdin, print its hash
//! ```
//!
//! The file is `{"users": [{"username", "password_hash", "public_keys",
//! "tls_certs", "home_dir"}]}` with argon2 password hashes. It answers every
//! method of SFTPGo's auth service: password, public key (authorized_keys
//! form), TLS certificate (PEM), and keyboard-interactive in two steps (the
//! plugin asks for the password; the answer is checked here). Success
//! returns the SFTPGo user as JSON; failure is `UNAUTHENTICATED`.

use clap::{Parser, Subcommand};
use plexus_examples::users::{hash_password, User, UsersFile};
use plexus_sdk::auth::{
    Auth, AuthResponse, AuthServer, CheckUserAndKeyboardInteractiveRequest,
    CheckUserAndPassRequest, CheckUserAndPublicKeyRequest, CheckUserAndTlsCertRequest,
    KeyboardAuthRequest, KeyboardAuthResponse,
};
use plexus_sdk::{async_trait, PluginKind, PluginServer, Request, Response, Status};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "auth-users",
    version,
    about = "An SFTPGo/Plexus auth plugin backed by a users file"
)]
struct Args {
    /// The users file (JSON).
    #[arg(long, value_name = "PATH")]
    users: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read a password from stdin and print its argon2 hash for the users file.
    HashPassword,
}

struct UsersAuth {
    file: UsersFile,
}

fn denied(username: &str) -> Status {
    Status::unauthenticated(format!("invalid credentials for user {username:?}"))
}

impl UsersAuth {
    fn user(&self, username: &str) -> Result<&User, Status> {
        self.file.find(username).ok_or_else(|| denied(username))
    }

    fn accept(user: &User) -> Result<Response<AuthResponse>, Status> {
        Ok(Response::new(AuthResponse {
            user: user.sftpgo_json(),
        }))
    }
}

#[async_trait]
impl Auth for UsersAuth {
    async fn check_user_and_pass(
        &self,
        request: Request<CheckUserAndPassRequest>,
    ) -> Result<Response<AuthResponse>, Status> {
        let r = request.into_inner();
        let user = self.user(&r.username)?;
        if user.password_matches(&r.password) {
            Self::accept(user)
        } else {
            Err(denied(&r.username))
        }
    }

    async fn check_user_and_tls_cert(
        &self,
        request: Request<CheckUserAndTlsCertRequest>,
    ) -> Result<Response<AuthResponse>, Status> {
        let r = request.into_inner();
        let user = self.user(&r.username)?;
        if user.has_tls_cert(&r.tls_cert) {
            Self::accept(user)
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
            Self::accept(user)
        } else {
            Err(denied(&r.username))
        }
    }

    async fn check_user_and_keyboard_interactive(
        &self,
        request: Request<CheckUserAndKeyboardInteractiveRequest>,
    ) -> Result<Response<AuthResponse>, Status> {
        let r = request.into_inner();
        Self::accept(self.user(&r.username)?)
    }

    async fn send_keyboard_auth_request(
        &self,
        request: Request<KeyboardAuthRequest>,
    ) -> Result<Response<KeyboardAuthResponse>, Status> {
        let r = request.into_inner();
        let user = self.user(&r.username)?;
        let response = match r.step {
            1 => KeyboardAuthResponse {
                instructions: "Password check".into(),
                questions: vec!["Password: ".into()],
                echos: vec![false],
                auth_result: 0,
                check_password: 0,
            },
            _ => {
                let ok = r.answers.len() == 1 && user.password_matches(&r.answers[0]);
                KeyboardAuthResponse {
                    auth_result: if ok { 1 } else { -1 },
                    ..Default::default()
                }
            }
        };
        Ok(Response::new(response))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::HashPassword) = args.command {
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            return fatal("cannot read the password from stdin");
        }
        return match hash_password(line.trim_end_matches(['\n', '\r'])) {
            Ok(hash) => {
                println!("{hash}");
                ExitCode::SUCCESS
            }
            Err(err) => fatal(&err),
        };
    }
    if let Err(err) = plexus_sdk::check_cookie(PluginKind::Auth) {
        err.report(PluginKind::Auth);
        return err.exit_code();
    }
    plexus_sdk::logging::init("auth-users");
    let Some(path) = args.users else {
        return fatal("--users is required");
    };
    let origin = path.display().to_string();
    let file = match std::fs::read_to_string(&path)
        .map_err(|err| format!("cannot read {origin}: {err}"))
        .and_then(|text| UsersFile::parse(&text, &origin))
    {
        Ok(file) => file,
        Err(err) => return fatal(&err),
    };
    tracing::info!(users = file.users.len(), "auth plugin starting");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fatal(&format!("cannot start the async runtime: {err}")),
    };
    runtime.block_on(PluginServer::new(AuthServer::new(UsersAuth { file })).run())
}

fn fatal(message: &str) -> ExitCode {
    eprintln!("[ERROR] auth-users: {message}");
    ExitCode::FAILURE
}
