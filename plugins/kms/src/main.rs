//! `plexus-kms`: reads the providers' environment, optionally checks the
//! secrets URL at start (`--url`), and serves `proto.KMS` until the host
//! stops it. The Go plugin takes no arguments; none are needed here either.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use plexus_kms::providers::Providers;
use plexus_kms::service::KmsService;
use plexus_kms::{target, NAME};
use plexus_sdk::kms::KmsServer;
use plexus_sdk::{PluginKind, PluginServer};

#[derive(Debug, Parser)]
#[command(
    name = NAME,
    version,
    about = "An SFTPGo/Plexus KMS plugin: Vault/OpenBao transit and AWS KMS, SFTPGo's secret format",
    after_help = "In the host's plugins config (SFTPGo: kms.secrets.url = \"hashivault://my-key\"):\n  \
        {\"type\": \"kms\", \"cmd\": \"/usr/local/bin/plexus-kms\", \"args\": [],\n   \
        \"env_vars\": [\"VAULT_SERVER_URL\", \"VAULT_SERVER_TOKEN\"], \"auto_mtls\": true,\n   \
        \"kms_options\": {\"scheme\": \"hashivault\", \"encrypted_status\": \"VaultTransit\"}}"
)]
struct Args {
    /// The secrets URL the host is configured with (kms.secrets.url). When
    /// given, it is checked at start: an unsupported scheme (gcpkms,
    /// azurekeyvault, ocikeyvault), a malformed URL, a provider without
    /// its environment, or AWS credentials that cannot be had (they are
    /// fetched once) stops the start instead of failing each call.
    #[arg(long, env = "SFTPGO_PLUGIN_KMS_URL", value_name = "URL")]
    url: Option<String>,
    /// Deadline of one provider call, in seconds.
    #[arg(long, env = "SFTPGO_PLUGIN_KMS_TIMEOUT", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=300))]
    timeout: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(err) = plexus_sdk::check_cookie(PluginKind::Kms) {
        err.report(PluginKind::Kms);
        return err.exit_code();
    }
    plexus_sdk::logging::init(NAME);
    let deadline = Duration::from_secs(args.timeout);
    let providers = match Providers::from_env(&|name| std::env::var(name).ok(), deadline) {
        Ok(providers) => providers,
        Err(err) => return fatal(&err),
    };
    let target = match args.url.as_deref().map(target::parse).transpose() {
        Ok(target) => target,
        Err(err) => return fatal(&format!("--url (SFTPGO_PLUGIN_KMS_URL): {err}")),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fatal(&format!("cannot start the async runtime: {err}")),
    };
    let checked = match &target {
        Some(target) => match runtime.block_on(providers.verify(target)) {
            Ok(line) => line,
            Err(err) => return fatal(&format!("--url (SFTPGO_PLUGIN_KMS_URL): {err}")),
        },
        None => "no --url".to_owned(),
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        vault = providers.vault_address().unwrap_or("not configured"),
        url = %checked,
        timeout_s = args.timeout,
        "starting {NAME}"
    );
    runtime.block_on(PluginServer::new(KmsServer::new(KmsService::new(providers, deadline))).run())
}

/// One `[ERROR]` line on stderr (a go-plugin host maps the prefix), exit 1.
fn fatal(message: &str) -> ExitCode {
    eprintln!("[ERROR] {NAME}: {message}");
    ExitCode::FAILURE
}
