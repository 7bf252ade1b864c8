//! The binary's start-up contract, run as a host would run it (with the
//! notifier cookie): a missing topic URL, a scheme this build does not
//! carry, an unknown query parameter and an unset server variable each end
//! the start with one `[ERROR]` line and exit status 1, and no secret from
//! the environment ever reaches the output.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_plexus-pubsub");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let cookie = plexus_proto::PluginKind::Notifier.cookie();
    let mut cmd = Command::new(BIN);
    cmd.env_clear().env(cookie.key, cookie.value).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run plexus-pubsub")
}

fn fails_with(args: &[&str], env: &[(&str, &str)], expected: &str) {
    let out = run(args, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "no handshake line expected");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(!stderr.contains("s3cret"), "a secret was printed: {stderr}");
}

#[test]
fn start_up_failures() {
    fails_with(&[], &[], "please specify the topic url");
    for url in ["gcppubsub://projects/p/topics/t", "azuresb://t"] {
        fails_with(&[url], &[], "not supported by this build of plexus-pubsub");
    }
    let nats = [("NATS_SERVER_URL", "nats://u:s3cret@127.0.0.1:1")];
    fails_with(
        &["nats://a?queue=q"],
        &nats,
        "invalid query parameter \"queue\"",
    );
    fails_with(
        &["rabbit://x"],
        &[],
        "RABBIT_SERVER_URL environment variable not set",
    );
    fails_with(
        &["kafka://events"],
        &[("KAFKA_BROKERS", "k1:9092,,k2:9092")],
        "entry 2 of the broker list is empty",
    );
    fails_with(
        &["kafka://events"],
        &[
            ("KAFKA_BROKERS", "k1:9092"),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_PASSWORD", "s3cret"),
        ],
        "KAFKA_SASL_MECHANISM",
    );
    fails_with(
        &["awssqs://sqs.us-east-2.amazonaws.com/123456789012/q?region=us-east-2&profile=x"],
        &[],
        "profile \"x\" (the URL's profile parameter) is not in any shared config file",
    );
    fails_with(
        &["awssqs://sqs.us-east-2.amazonaws.com/123456789012/q?region=us-east-2&fips=true"],
        &[],
        "fips=true is not supported by this build",
    );
    fails_with(
        &["awssns:///arn:aws:sns:us-east-2:123456789012:t?region=us-east-2"],
        &[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SESSION_TOKEN", "s3cret-token"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        "no AWS credentials found; tried: the environment (AWS_ACCESS_KEY_ID set without \
         AWS_SECRET_ACCESS_KEY)",
    );
    fails_with(
        &["nats://a", "node-1"],
        &nats,
        "failed to dial NATS_SERVER_URL nats://127.0.0.1:1",
    );
}

#[test]
fn without_the_cookie_it_is_not_a_plugin() {
    let out = Command::new(BIN)
        .env_clear()
        .arg("nats://a")
        .output()
        .expect("run plexus-pubsub");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("This binary is a plugin"));
}
