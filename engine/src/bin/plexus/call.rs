//! `plexus call`: try a request/response plugin (auth, kms, ipfilter,
//! eventsearcher) from the command line. The configured plugins of the kind
//! asked for are started as the engine starts them, asked once through the
//! engine (so the plugin is chosen as SFTPGo chooses it), and stopped.
//!
//! The answer goes to stdout; the exit status is 0 on success, 1 on a
//! denial or an error (with the plugin's own message on stderr), 2 when the
//! request cannot be made at all.

use clap::{Args, Subcommand, ValueEnum};
use plexus_engine::{Engine, PluginsFile};
use plexus_proto::sftpgo::{
    fs_events_filter, log_events_filter, provider_events_filter,
    CheckUserAndKeyboardInteractiveRequest, CheckUserAndPassRequest, CheckUserAndPublicKeyRequest,
    CheckUserAndTlsCertRequest, DecryptRequest, EncryptRequest, FsEventsFilter,
    KeyboardAuthRequest, LogEventsFilter, ProviderEventsFilter,
};
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

pub async fn run(file: PluginsFile, command: CallCommand) -> ExitCode {
    let kind = match &command {
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
        eprintln!("plexus call: the config has no {kind} plugin");
        return ExitCode::from(2);
    }
    // Only request/response plugins start, so no event is queued: a
    // private data directory keeps clear of a daemon that holds the
    // configured one.
    let scratch = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => {
            eprintln!("plexus call: cannot create a scratch directory: {err}");
            return ExitCode::from(2);
        }
    };
    let mut settings = file.engine_settings();
    settings.data_dir = scratch.path().to_owned();
    let engine = match Engine::start(plugins, settings).await {
        Ok(engine) => engine,
        Err(err) => {
            eprintln!("plexus call: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = call(&engine, command).await;
    engine.shutdown(STOP_DEADLINE).await;
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

async fn call(engine: &Engine, command: CallCommand) -> Result<String, String> {
    let fail = |err: plexus_engine::EngineError| err.to_string();
    match command {
        CallCommand::Auth(auth) => call_auth(engine, auth).await,
        CallCommand::Kms(KmsCall::Encrypt {
            payload,
            additional_data,
            url,
            master_key,
        }) => {
            let (secret, status) = engine
                .kms_encrypt(EncryptRequest {
                    payload,
                    additional_data,
                    url,
                    master_key,
                })
                .await
                .map_err(fail)?;
            Ok(serde_json::json!({
                "status": status,
                "payload": secret.payload,
                "key": secret.key,
                "mode": secret.mode,
            })
            .to_string())
        }
        CallCommand::Kms(KmsCall::Decrypt {
            status,
            payload,
            key,
            additional_data,
            mode,
            url,
            master_key,
        }) => engine
            .kms_decrypt(
                &status,
                DecryptRequest {
                    payload,
                    key,
                    additional_data,
                    mode,
                    url,
                    master_key,
                },
            )
            .await
            .map(|answer| answer.payload)
            .map_err(fail),
        CallCommand::Ipfilter { ip, protocol } => engine
            .check_ip(&ip, &protocol)
            .await
            .map(|()| format!("allowed: {ip} over {protocol}"))
            .map_err(fail),
        CallCommand::Search { kind, filter } => {
            let answer = match kind {
                SearchKind::Fs => {
                    engine
                        .search_fs_events(FsEventsFilter {
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
                        })
                        .await
                }
                SearchKind::Provider => {
                    engine
                        .search_provider_events(ProviderEventsFilter {
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
                        })
                        .await
                }
                SearchKind::Log => {
                    engine
                        .search_log_events(LogEventsFilter {
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
                        })
                        .await
                }
            };
            answer
                .map(|json| String::from_utf8_lossy(&json).into_owned())
                .map_err(fail)
        }
    }
}

async fn call_auth(engine: &Engine, auth: AuthCall) -> Result<String, String> {
    let fail = |err: plexus_engine::EngineError| err.to_string();
    let user = match auth {
        AuthCall::Password { login, password } => engine
            .check_user_and_pass(CheckUserAndPassRequest {
                username: login.user,
                password,
                ip: login.ip,
                protocol: login.protocol,
                user: Vec::new(),
            })
            .await
            .map_err(fail)?,
        AuthCall::PublicKey { login, key } => engine
            .check_user_and_public_key(CheckUserAndPublicKeyRequest {
                username: login.user,
                pub_key: text_or_file(&key)?,
                ip: login.ip,
                protocol: login.protocol,
                user: Vec::new(),
            })
            .await
            .map_err(fail)?,
        AuthCall::TlsCert { login, cert } => engine
            .check_user_and_tls_cert(CheckUserAndTlsCertRequest {
                username: login.user,
                tls_cert: text_or_file(&cert)?,
                ip: login.ip,
                protocol: login.protocol,
                user: Vec::new(),
            })
            .await
            .map_err(fail)?,
        AuthCall::KeyboardInteractive { login, answers } => {
            return keyboard_interactive(engine, login, answers).await
        }
    };
    Ok(describe_user(&user))
}

/// SFTPGo's keyboard-interactive dialogue: the first call, then steps until
/// the plugin decides, each step's questions answered in order from
/// `answers`.
async fn keyboard_interactive(
    engine: &Engine,
    login: Login,
    answers: Vec<String>,
) -> Result<String, String> {
    let fail = |err: plexus_engine::EngineError| err.to_string();
    let user = engine
        .check_user_and_keyboard_interactive(CheckUserAndKeyboardInteractiveRequest {
            username: login.user.clone(),
            ip: login.ip.clone(),
            protocol: login.protocol.clone(),
            user: Vec::new(),
        })
        .await
        .map_err(fail)?;
    let request_id = format!("plexus-call-{}", std::process::id());
    let mut remaining = answers.into_iter();
    let mut questions = Vec::new();
    let mut given = Vec::new();
    for step in 1..=MAX_KEYBOARD_STEPS {
        let response = engine
            .send_keyboard_auth_request(KeyboardAuthRequest {
                request_id: request_id.clone(),
                username: login.user.clone(),
                password: String::new(),
                ip: login.ip.clone(),
                answers: std::mem::take(&mut given),
                questions: std::mem::take(&mut questions),
                step,
            })
            .await
            .map_err(fail)?;
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
