//! `plexus call`: try a request/response plugin (auth, kms, ipfilter,
//! eventsearcher) from the command line. With a config, the configured
//! plugins of the kind asked for are started as the engine starts them,
//! asked once through the engine (so the plugin is chosen as SFTPGo chooses
//! it), and stopped; with a daemon's socket, the running daemon's plugins
//! are asked through its admin API. Either way the request is one
//! `plexus.v1.CallRequest`, routed by the same code.
//!
//! The answer goes to stdout; the exit status is 0 on success, 1 on a
//! denial or an error (with the plugin's own message on stderr), 2 when the
//! request cannot be made at all.

use clap::{Args, Subcommand, ValueEnum};
use plexus_engine::host::transport::{connect, Address};
use plexus_engine::ingest::plugin_call;
use plexus_engine::{Engine, PluginsFile};
use plexus_proto::plexus::v1::admin_client::AdminClient;
use plexus_proto::plexus::v1::{call_reply::Reply, call_request::Request, CallRequest, KmsDecrypt};
use plexus_proto::sftpgo::{
    fs_events_filter, log_events_filter, provider_events_filter, CheckIpRequest,
    CheckUserAndKeyboardInteractiveRequest, CheckUserAndPassRequest, CheckUserAndPublicKeyRequest,
    CheckUserAndTlsCertRequest, DecryptRequest, EncryptRequest, FsEventsFilter,
    KeyboardAuthRequest, LogEventsFilter, ProviderEventsFilter,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// How long stopping the started plugins may take.
const STOP_DEADLINE: Duration = Duration::from_secs(5);
/// Keyboard-interactive steps at most, against a plugin that never decides.
const MAX_KEYBOARD_STEPS: i32 = 10;

#[derive(Debug, Subcommand)]
pub enum CallCommand {
    /// Ask the auth plugin whose scope covers the method.
    #[command(subcommand)]
    Auth(AuthCall),
    /// Encrypt or decrypt with the KMS plugin chosen by URL or status.
    #[command(subcommand)]
    Kms(KmsCall),
    /// Ask every IP filter plugin whether a connection is allowed.
    Ipfilter {
        #[arg(long)]
        ip: String,
        #[arg(long, default_value = "SSH")]
        protocol: String,
    },
    /// Search the events searcher plugin; prints its JSON answer.
    Search {
        kind: SearchKind,
        #[command(flatten)]
        filter: SearchFilter,
    },
}

#[derive(Debug, Args)]
pub struct Login {
    #[arg(long)]
    user: String,
    #[arg(long, default_value = "127.0.0.1")]
    ip: String,
    #[arg(long, default_value = "SSH")]
    protocol: String,
}

#[derive(Debug, Subcommand)]
pub enum AuthCall {
    /// Password authentication (scope bit 1).
    Password {
        #[command(flatten)]
        login: Login,
        #[arg(long)]
        password: String,
    },
    /// Public key authentication (scope bit 2); the key in OpenSSH format.
    PublicKey {
        #[command(flatten)]
        login: Login,
        /// The key, or @FILE to read it from a file.
        #[arg(long)]
        key: String,
    },
    /// Keyboard-interactive authentication (scope bit 4): each step's
    /// questions are answered with the next `--answer` values.
    KeyboardInteractive {
        #[command(flatten)]
        login: Login,
        #[arg(long = "answer")]
        answers: Vec<String>,
    },
    /// TLS certificate authentication (scope bit 8); the certificate in PEM.
    TlsCert {
        #[command(flatten)]
        login: Login,
        /// The PEM, or @FILE to read it from a file.
        #[arg(long)]
        cert: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KmsCall {
    /// Encrypt a payload; prints the secret as JSON (payload, key, mode, status).
    Encrypt {
        #[arg(long)]
        payload: String,
        #[arg(long, default_value = "")]
        additional_data: String,
        /// The secrets URL; its scheme picks the plugin.
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "")]
        master_key: String,
    },
    /// Decrypt a secret; prints the payload.
    Decrypt {
        /// The secret's status (the plugin's `encrypted_status`).
        #[arg(long)]
        status: String,
        #[arg(long)]
        payload: String,
        #[arg(long, default_value = "")]
        key: String,
        #[arg(long, default_value = "")]
        additional_data: String,
        #[arg(long, default_value_t = 0)]
        mode: i32,
        #[arg(long, default_value = "")]
        url: String,
        #[arg(long, default_value = "")]
        master_key: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SearchKind {
    Fs,
    Provider,
    Log,
}

#[derive(Debug, Args)]
pub struct SearchFilter {
    /// Nanoseconds since the epoch; 0 = no bound.
    #[arg(long, default_value_t = 0)]
    start: i64,
    #[arg(long, default_value_t = 0)]
    end: i64,
    /// An action (fs, provider) to match; repeat for more.
    #[arg(long = "action")]
    actions: Vec<String>,
    #[arg(long, default_value = "")]
    username: String,
    #[arg(long, default_value = "")]
    ip: String,
    #[arg(long = "protocol")]
    protocols: Vec<String>,
    /// A log event id (log searches); repeat for more.
    #[arg(long = "event")]
    events: Vec<i32>,
    #[arg(long, default_value_t = 100)]
    limit: i32,
    /// Oldest first instead of newest first.
    #[arg(long)]
    ascending: bool,
}

/// Whose plugins are asked.
pub enum Target {
    /// Start the plugins of this config.
    Config(Box<PluginsFile>),
    /// A running daemon's, through the admin API on this socket.
    Daemon(PathBuf),
}

/// Plugins ready to answer.
enum Plugins {
    Started(Box<Engine>),
    Daemon(AdminClient<tonic::transport::Channel>),
}

impl Plugins {
    async fn ask(&mut self, request: Request) -> Result<Reply, String> {
        let request = CallRequest {
            request: Some(request),
        };
        let reply = match self {
            Plugins::Started(engine) => plugin_call::dispatch(engine, request)
                .await
                .map_err(|err| err.to_string())?,
            Plugins::Daemon(client) => client
                .call(request)
                .await
                .map(|reply| reply.into_inner())
                .map_err(|status| status.message().to_owned())?,
        };
        reply.reply.ok_or_else(|| "the answer is empty".to_owned())
    }

    async fn stop(self) {
        if let Plugins::Started(engine) = self {
            engine.shutdown(STOP_DEADLINE).await;
        }
    }
}

pub async fn run(target: Target, command: CallCommand) -> ExitCode {
    let mut plugins = match open(target, &command).await {
        Ok(plugins) => plugins,
        Err((code, message)) => {
            eprintln!("plexus call: {message}");
            return code;
        }
    };
    let outcome = call(&mut plugins, command).await;
    plugins.stop().await;
    match outcome {
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("plexus call: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the config's plugins of the kind `command` needs, or connects to
/// the daemon.
async fn open(target: Target, command: &CallCommand) -> Result<Plugins, (ExitCode, String)> {
    let file = match target {
        Target::Config(file) => *file,
        Target::Daemon(socket) => {
            let address = Address::Unix(socket.clone());
            let channel = connect(&address, None, Duration::from_secs(5))
                .await
                .map_err(|(_, err)| {
                    (
                        ExitCode::from(2),
                        format!(
                            "cannot reach plexus serve at {}: {err} (is it running?)",
                            socket.display()
                        ),
                    )
                })?;
            return Ok(Plugins::Daemon(AdminClient::new(channel)));
        }
    };
    let kind = match command {
        CallCommand::Auth(_) => "auth",
        CallCommand::Kms(_) => "kms",
        CallCommand::Ipfilter { .. } => "ipfilter",
        CallCommand::Search { .. } => "eventsearcher",
    };
    let plugins: Vec<_> = file
        .plugins
        .iter()
        .filter(|plugin| plugin.kind == kind)
        .cloned()
        .collect();
    if plugins.is_empty() {
        return Err((
            ExitCode::from(2),
            format!("the config has no {kind} plugin"),
        ));
    }
    // Only request/response plugins start, so no event is queued: a
    // private data directory keeps clear of a daemon that holds the
    // configured one.
    let scratch = tempfile::tempdir().map_err(|err| {
        (
            ExitCode::from(2),
            format!("cannot create a scratch directory: {err}"),
        )
    })?;
    let mut settings = file.engine_settings();
    settings.data_dir = scratch.path().to_owned();
    let engine = Engine::start(plugins, settings)
        .await
        .map_err(|err| (ExitCode::FAILURE, err.to_string()))?;
    Ok(Plugins::Started(Box::new(engine)))
}

/// What a reply of the wrong kind says.
fn unexpected(reply: Reply) -> String {
    format!("unexpected answer: {reply:?}")
}

async fn call(plugins: &mut Plugins, command: CallCommand) -> Result<String, String> {
    match command {
        CallCommand::Auth(auth) => call_auth(plugins, auth).await,
        CallCommand::Kms(KmsCall::Encrypt {
            payload,
            additional_data,
            url,
            master_key,
        }) => {
            let request = Request::KmsEncrypt(EncryptRequest {
                payload,
                additional_data,
                url,
                master_key,
            });
            match plugins.ask(request).await? {
                Reply::KmsEncrypted(encrypted) => {
                    let secret = encrypted.response.unwrap_or_default();
                    Ok(serde_json::json!({
                        "status": encrypted.status,
                        "payload": secret.payload,
                        "key": secret.key,
                        "mode": secret.mode,
                    })
                    .to_string())
                }
                other => Err(unexpected(other)),
            }
        }
        CallCommand::Kms(KmsCall::Decrypt {
            status,
            payload,
            key,
            additional_data,
            mode,
            url,
            master_key,
        }) => {
            let request = Request::KmsDecrypt(KmsDecrypt {
                status,
                request: Some(DecryptRequest {
                    payload,
                    key,
                    additional_data,
                    mode,
                    url,
                    master_key,
                }),
            });
            match plugins.ask(request).await? {
                Reply::KmsDecrypted(answer) => Ok(answer.payload),
                other => Err(unexpected(other)),
            }
        }
        CallCommand::Ipfilter { ip, protocol } => {
            let request = Request::CheckIp(CheckIpRequest {
                ip: ip.clone(),
                protocol: protocol.clone(),
            });
            match plugins.ask(request).await? {
                Reply::IpAllowed(()) => Ok(format!("allowed: {ip} over {protocol}")),
                other => Err(unexpected(other)),
            }
        }
        CallCommand::Search { kind, filter } => {
            match plugins.ask(search_request(kind, filter)).await? {
                Reply::Events(json) => Ok(String::from_utf8_lossy(&json).into_owned()),
                other => Err(unexpected(other)),
            }
        }
    }
}

/// The searcher's filter for `kind`, from the flags.
fn search_request(kind: SearchKind, filter: SearchFilter) -> Request {
    match kind {
        SearchKind::Fs => Request::SearchFs(FsEventsFilter {
            start_timestamp: filter.start,
            end_timestamp: filter.end,
            actions: filter.actions,
            username: filter.username,
            ip: filter.ip,
            protocols: filter.protocols,
            limit: filter.limit,
            fs_provider: -1,
            order: if filter.ascending {
                fs_events_filter::Order::Asc
            } else {
                fs_events_filter::Order::Desc
            } as i32,
            ..Default::default()
        }),
        SearchKind::Provider => Request::SearchProvider(ProviderEventsFilter {
            start_timestamp: filter.start,
            end_timestamp: filter.end,
            actions: filter.actions,
            username: filter.username,
            ip: filter.ip,
            limit: filter.limit,
            order: if filter.ascending {
                provider_events_filter::Order::Asc
            } else {
                provider_events_filter::Order::Desc
            } as i32,
            ..Default::default()
        }),
        SearchKind::Log => Request::SearchLog(LogEventsFilter {
            start_timestamp: filter.start,
            end_timestamp: filter.end,
            events: filter.events,
            username: filter.username,
            ip: filter.ip,
            protocols: filter.protocols,
            limit: filter.limit,
            order: if filter.ascending {
                log_events_filter::Order::Asc
            } else {
                log_events_filter::Order::Desc
            } as i32,
            ..Default::default()
        }),
    }
}

async fn call_auth(plugins: &mut Plugins, auth: AuthCall) -> Result<String, String> {
    let request = match auth {
        AuthCall::Password { login, password } => Request::Password(CheckUserAndPassRequest {
            username: login.user,
            password,
            ip: login.ip,
            protocol: login.protocol,
            user: Vec::new(),
        }),
        AuthCall::PublicKey { login, key } => Request::PublicKey(CheckUserAndPublicKeyRequest {
            username: login.user,
            pub_key: text_or_file(&key)?,
            ip: login.ip,
            protocol: login.protocol,
            user: Vec::new(),
        }),
        AuthCall::TlsCert { login, cert } => Request::TlsCert(CheckUserAndTlsCertRequest {
            username: login.user,
            tls_cert: text_or_file(&cert)?,
            ip: login.ip,
            protocol: login.protocol,
            user: Vec::new(),
        }),
        AuthCall::KeyboardInteractive { login, answers } => {
            return keyboard_interactive(plugins, login, answers).await
        }
    };
    match plugins.ask(request).await? {
        Reply::User(user) => Ok(describe_user(&user)),
        other => Err(unexpected(other)),
    }
}

/// SFTPGo's keyboard-interactive dialogue: the first call, then steps until
/// the plugin decides, each step's questions answered in order from
/// `answers`.
async fn keyboard_interactive(
    plugins: &mut Plugins,
    login: Login,
    answers: Vec<String>,
) -> Result<String, String> {
    let first = Request::KeyboardInteractive(CheckUserAndKeyboardInteractiveRequest {
        username: login.user.clone(),
        ip: login.ip.clone(),
        protocol: login.protocol.clone(),
        user: Vec::new(),
    });
    let user = match plugins.ask(first).await? {
        Reply::User(user) => user,
        other => return Err(unexpected(other)),
    };
    let request_id = format!("plexus-call-{}", std::process::id());
    let mut remaining = answers.into_iter();
    let mut questions = Vec::new();
    let mut given = Vec::new();
    for step in 1..=MAX_KEYBOARD_STEPS {
        let request = Request::KeyboardStep(KeyboardAuthRequest {
            request_id: request_id.clone(),
            username: login.user.clone(),
            password: String::new(),
            ip: login.ip.clone(),
            answers: std::mem::take(&mut given),
            questions: std::mem::take(&mut questions),
            step,
        });
        let response = match plugins.ask(request).await? {
            Reply::KeyboardStep(response) => response,
            other => return Err(unexpected(other)),
        };
        match response.auth_result {
            1 => {
                return Ok(format!(
                    "authenticated at step {step}\n{}",
                    describe_user(&user)
                ))
            }
            -1 => return Err(format!("authentication failed at step {step}")),
            _ => {}
        }
        for question in &response.questions {
            let answer = remaining.next().ok_or_else(|| {
                format!("step {step} asks {question:?}, and no --answer is left for it")
            })?;
            eprintln!("step {step}: {question} <- (an answer)");
            given.push(answer);
        }
        questions = response.questions;
    }
    Err(format!(
        "the plugin decided nothing in {MAX_KEYBOARD_STEPS} steps"
    ))
}

/// The user document an auth plugin answered, or what an empty answer means.
fn describe_user(user: &[u8]) -> String {
    if user.is_empty() {
        return "authenticated; the plugin asks for no change to the user (empty answer)".into();
    }
    match serde_json::from_slice::<serde_json::Value>(user) {
        Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_else(|_| json.to_string()),
        Err(_) => String::from_utf8_lossy(user).into_owned(),
    }
}

/// A value given inline, or `@FILE` to read it from a file.
fn text_or_file(value: &str) -> Result<String, String> {
    match value.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|err| format!("cannot read {path}: {err}"))
        }
        None => Ok(value.to_owned()),
    }
}
