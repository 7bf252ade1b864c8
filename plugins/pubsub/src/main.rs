//! The `plexus-pubsub` binary: check that a go-plugin host started it,
//! read the topic URL and instance id, validate the broker settings,
//! connect (30 s at most, as the Go plugin), then serve the notifier until
//! the host stops it. Any failure before serving is one `[ERROR]` line and
//! exit status 1, so the host (and SFTPGo) does not start.

use plexus_pubsub::{cli, config, Encoder, PubSubNotifier, Publisher};
use plexus_sdk::PluginKind;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const NAME: &str = "plexus-pubsub";
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

fn fatal(message: &str) -> ExitCode {
    eprintln!("[ERROR] {NAME}: {message}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    if let Err(err) = plexus_sdk::check_cookie(PluginKind::Notifier) {
        err.report(PluginKind::Notifier);
        return err.exit_code();
    }
    plexus_sdk::logging::init(NAME);
    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => return fatal(&message),
    };
    let broker = match config::parse(&args.topic_url, &|name| std::env::var(name).ok()) {
        Ok(broker) => broker,
        Err(message) => return fatal(&message),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fatal(&format!("cannot start the async runtime: {err}")),
    };
    runtime.block_on(async move {
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            broker = broker.kind(),
            server = %broker.server(),
            topic = %config::redact_topic(&args.topic_url),
            instance_id = %args.instance_id,
            "starting plexus-pubsub"
        );
        let publisher = match tokio::time::timeout(OPEN_TIMEOUT, Publisher::connect(&broker)).await
        {
            Ok(Ok(publisher)) => Arc::new(publisher),
            Ok(Err(message)) => return fatal(&format!("unable to open topic: {message}")),
            Err(_) => return fatal("unable to open topic: timed out after 30 s"),
        };
        let notifier = PubSubNotifier::new(publisher.clone(), Encoder::new(args.instance_id));
        let code = plexus_sdk::serve_notifier(notifier).await;
        if tokio::time::timeout(OPEN_TIMEOUT, publisher.close())
            .await
            .is_err()
        {
            tracing::error!("unable to close topic: timed out");
        }
        code
    })
}
