//! `notifier-jsonl` (and so `plexus-sdk`) against real processes: started as a
//! go-plugin host starts a plugin, spoken to with real gRPC clients.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{
    health, mode, read_out, run_to_exit, signal, tcp_channel, tls_channel, tls_unix_channel,
    Plugin, Scratch, Target, DEADLINE,
};
use plexus_examples::jsonl::{parse_event_lines, Event};
use plexus_proto::goplugin::grpc_broker_client::GrpcBrokerClient;
use plexus_proto::goplugin::grpc_controller_client::GrpcControllerClient;
use plexus_proto::goplugin::grpc_stdio_client::GrpcStdioClient;
use plexus_proto::goplugin::Empty;
use plexus_proto::hclog::{parse_json, Level};
use plexus_proto::mtls::Identity;
use plexus_proto::sftpgo::notifier_client::NotifierClient;
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use plexus_proto::{Network, PluginKind};
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::ServingStatus;

const NOT_A_PLUGIN: &str = "This binary is a plugin. These are not meant to be executed directly. Please execute the program that consumes these plugins, which will load any plugins automatically";

fn fs_event() -> FsEvent {
    FsEvent {
        timestamp: i64::MIN,
        action: "upload".into(),
        username: "jürgen 用户 🚀".into(),
        fs_path: "/srv/data/\"odd\" name\n\\tab\t.txt".into(),
        fs_target_path: "/srv/data/target".into(),
        ssh_cmd: "scp".into(),
        file_size: i64::MAX,
        protocol: "SFTP".into(),
        status: i32::MIN,
        ip: "2001:db8::1".into(),
        virtual_path: "/\"odd\" name".into(),
        virtual_target_path: "/target".into(),
        session_id: "ab".repeat(64),
        fs_provider: i32::MAX,
        bucket: "bücket".into(),
        endpoint: "https://s3.example:9000".into(),
        open_flags: 512,
        role: "ops".into(),
        elapsed: -42,
        metadata: [
            ("content-type", "text/plain"),
            ("ünïcode", "välue ✓"),
            ("empty", ""),
            ("nul", "a\u{0}b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    }
}

fn provider_event() -> ProviderEvent {
    ProviderEvent {
        timestamp: i64::MAX,
        action: "update".into(),
        object_type: "user".into(),
        username: "__self__".into(),
        ip: "127.0.0.1".into(),
        object_name: "ßob".into(),
        object_data: (0..=255u8).collect(),
        role: "".into(),
    }
}

fn log_event() -> LogEvent {
    LogEvent {
        timestamp: 1_764_324_000_123_456_789,
        event: 5,
        username: "alice".into(),
        protocol: "FTP".into(),
        ip: "10.0.0.7".into(),
        message: "login OK — ünïcode ✓".into(),
        role: "r".into(),
    }
}

async fn send_all(channel: Channel) -> Result<(), tonic::Status> {
    let mut client = NotifierClient::new(channel);
    client.send_fs_event(fs_event()).await?;
    client.send_provider_event(provider_event()).await?;
    client.send_log_event(log_event()).await?;
    Ok(())
}

fn recorded(scratch: &Scratch) -> Vec<Event> {
    parse_event_lines(&read_out(&scratch.out())).expect("every recorded line parses")
}

fn expected_three() -> Vec<Event> {
    vec![
        Event::Fs(fs_event()),
        Event::Provider(provider_event()),
        Event::Log(log_event()),
    ]
}

async fn shutdown_via_controller(plugin: &mut Plugin, channel: Channel) {
    GrpcControllerClient::new(channel)
        .shutdown(Empty {})
        .await
        .expect("controller Shutdown answers");
    let status = plugin.wait_exit().await;
    assert!(
        status.success(),
        "exit {status:?}; stderr:\n{}",
        plugin.stderr()
    );
}

#[tokio::test]
async fn without_the_cookie_it_prints_go_plugins_message_and_exits_1() {
    let wrong_values = [None, Some("wrong"), Some(PluginKind::Kms.cookie().value)];
    for value in wrong_values {
        let scratch = Scratch::new();
        let mut command = scratch.command();
        command.env_remove(PluginKind::Notifier.cookie().key);
        if let Some(value) = value {
            command.env(PluginKind::Notifier.cookie().key, value);
        }
        let (status, stdout, stderr) = run_to_exit(command).await;
        assert_eq!(
            status.code(),
            Some(1),
            "cookie {value:?}; stderr:\n{stderr}"
        );
        assert_eq!(stdout, "", "nothing on stdout");
        assert_eq!(stderr.trim_end(), NOT_A_PLUGIN);
        assert!(
            !scratch.out().exists(),
            "no side effect before the cookie check"
        );
    }
}

#[tokio::test]
async fn unix_socket_handshake_health_and_every_field_recorded() {
    let scratch = Scratch::new();
    let mut plugin = Plugin::start(scratch.command()).await;

    let line = &plugin.handshake;
    assert_eq!(line.core_version, 1);
    assert_eq!(line.app_version, 1);
    assert_eq!(line.network, Network::Unix);
    assert_eq!(line.protocol, "grpc");
    assert_eq!(line.server_cert, None);
    assert_eq!(line.multiplex, None);
    assert!(
        plugin.raw_handshake.trim_end().ends_with("|grpc|"),
        "{}",
        plugin.raw_handshake
    );
    let socket = plugin.socket_path();
    let socket_dir = socket.parent().expect("socket dir").to_owned();
    assert_eq!(
        socket.file_name().and_then(|n| n.to_str()),
        Some("plugin.sock")
    );
    assert_eq!(
        socket_dir.parent(),
        Some(scratch.dir.path()),
        "made under PLUGIN_UNIX_SOCKET_DIR"
    );
    assert_eq!(mode(&socket_dir), 0o700, "the socket directory is private");

    let channel = plugin.unix_channel().await;
    for service in ["plugin", ""] {
        assert_eq!(
            health(channel.clone(), service).await.expect("health"),
            ServingStatus::Serving as i32,
            "service {service:?}"
        );
    }
    send_all(channel.clone()).await.expect("deliveries succeed");
    // Acknowledged means recorded: no waiting needed.
    assert_eq!(recorded(&scratch), expected_three());
    assert_eq!(mode(&scratch.out()), 0o600, "the events file is owner-only");

    // One hclog JSON info line at start.
    let stderr = plugin
        .wait_stderr_contains("notifier plugin starting")
        .await;
    let start = stderr
        .lines()
        .find(|l| l.contains("notifier plugin starting"))
        .and_then(parse_json)
        .expect("the start line is hclog JSON");
    assert_eq!(start.level, Level::Info);
    assert_eq!(start.module.as_deref(), Some("notifier-jsonl"));
    assert!(start.timestamp.is_some());

    shutdown_via_controller(&mut plugin, channel).await;
    assert!(!socket_dir.exists(), "socket directory removed on exit");
}

#[tokio::test]
async fn concurrent_deliveries_become_whole_lines() {
    const COUNT: usize = 200;
    let scratch = Scratch::new();
    let mut plugin = Plugin::start(scratch.command()).await;
    let channel = plugin.unix_channel().await;
    let sends = (0..COUNT).map(|i| {
        let mut client = NotifierClient::new(channel.clone());
        async move {
            let mut event = log_event();
            event.timestamp = i64::try_from(i).expect("small");
            event.message = format!("{i} {}", "x".repeat(i * 37));
            client.send_log_event(event).await
        }
    });
    for result in futures::future::join_all(sends).await {
        result.expect("delivery");
    }
    let events = recorded(&scratch);
    assert_eq!(events.len(), COUNT);
    let mut seen: Vec<i64> = events
        .iter()
        .map(|event| match event {
            Event::Log(log) => {
                let i = usize::try_from(log.timestamp).expect("index");
                assert_eq!(log.message, format!("{i} {}", "x".repeat(i * 37)));
                log.timestamp
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..COUNT as i64).collect::<Vec<_>>());
    shutdown_via_controller(&mut plugin, channel).await;
}

#[tokio::test]
async fn tcp_transport_binds_inside_the_port_range() {
    // Hold the first port of the range so the plugin has to skip it.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let min = held.local_addr().expect("addr").port();
    let max = min.saturating_add(40);
    let scratch = Scratch::new();
    let mut command = scratch.command();
    command
        .env("PLEXUS_PLUGIN_TRANSPORT", "tcp")
        .env("PLUGIN_MIN_PORT", min.to_string())
        .env("PLUGIN_MAX_PORT", max.to_string());
    let mut plugin = Plugin::start(command).await;
    assert_eq!(plugin.handshake.network, Network::Tcp);
    let address = plugin.handshake.address.clone();
    let (host, port) = address.rsplit_once(':').expect("host:port");
    assert_eq!(host, "127.0.0.1");
    let port: u16 = port.parse().expect("port");
    assert!(
        port > min && port <= max,
        "port {port} outside ({min}, {max}]"
    );

    let channel = tcp_channel(&address).await.expect("connect over TCP");
    assert_eq!(
        health(channel.clone(), "plugin").await.expect("health"),
        ServingStatus::Serving as i32
    );
    send_all(channel.clone())
        .await
        .expect("deliveries over TCP");
    assert_eq!(recorded(&scratch), expected_three());
    shutdown_via_controller(&mut plugin, channel).await;
    drop(held);
}

#[tokio::test]
async fn auto_mtls_accepts_only_the_pinned_host_certificate() {
    let host = Identity::generate().expect("host identity");
    let foreigner = Identity::generate().expect("foreign identity");
    let scratch = Scratch::new();
    let mut command = scratch.command();
    command.env("PLUGIN_CLIENT_CERT", &host.cert_pem);
    let mut plugin = Plugin::start(command).await;
    let server_cert = plugin
        .handshake
        .server_cert
        .clone()
        .expect("the handshake line carries the plugin certificate");
    let cert_field = plugin
        .raw_handshake
        .trim_end()
        .rsplit('|')
        .next()
        .unwrap_or_default();
    assert!(!cert_field.contains('='), "base64 without padding");
    let socket = plugin.socket_path();

    let channel = tls_unix_channel(socket.clone(), &host, &server_cert)
        .await
        .unwrap_or_else(|err| panic!("mTLS connect: {err}; stderr:\n{}", plugin.stderr()));
    assert_eq!(
        health(channel.clone(), "plugin")
            .await
            .expect("health over mTLS"),
        ServingStatus::Serving as i32
    );
    send_all(channel.clone())
        .await
        .expect("deliveries over mTLS");

    // A client with another certificate is refused (at connect or at the first RPC).
    match tls_unix_channel(socket.clone(), &foreigner, &server_cert).await {
        Err(_) => {}
        Ok(foreign) => {
            let refused = NotifierClient::new(foreign)
                .send_log_event(log_event())
                .await;
            assert!(refused.is_err(), "a foreign certificate must not deliver");
        }
    }
    // So is a client that does not speak TLS at all.
    if let Ok(plain) = common::unix_channel(socket.clone()).await {
        let refused = NotifierClient::new(plain).send_log_event(log_event()).await;
        assert!(
            refused.is_err(),
            "plain gRPC must not deliver under AutoMTLS"
        );
    }
    plugin.wait_stderr_contains("TLS handshake failed").await;

    // The plugin still serves the right host, on a new connection too.
    let again = tls_unix_channel(socket, &host, &server_cert)
        .await
        .expect("reconnect with the host certificate");
    NotifierClient::new(again)
        .send_log_event(log_event())
        .await
        .expect("delivery after refusals");
    let mut expected = expected_three();
    expected.push(Event::Log(log_event()));
    assert_eq!(
        recorded(&scratch),
        expected,
        "nothing from the refused clients"
    );
    shutdown_via_controller(&mut plugin, channel).await;
}

#[tokio::test]
async fn auto_mtls_over_tcp() {
    let host = Identity::generate().expect("host identity");
    let scratch = Scratch::new();
    let mut command = scratch.command();
    command
        .env("PLUGIN_CLIENT_CERT", &host.cert_pem)
        .env("PLEXUS_PLUGIN_TRANSPORT", "tcp");
    let mut plugin = Plugin::start(command).await;
    assert_eq!(plugin.handshake.network, Network::Tcp);
    let server_cert = plugin.handshake.server_cert.clone().expect("certificate");
    let target = Target::Tcp(plugin.handshake.address.clone());
    let channel = tls_channel(target.clone(), &host, &server_cert)
        .await
        .unwrap_or_else(|err| panic!("mTLS over TCP: {err}; stderr:\n{}", plugin.stderr()));
    send_all(channel.clone())
        .await
        .expect("deliveries over mTLS/TCP");
    assert_eq!(recorded(&scratch), expected_three());
    let foreigner = Identity::generate().expect("foreign identity");
    if let Ok(foreign) = tls_channel(target, &foreigner, &server_cert).await {
        let refused = NotifierClient::new(foreign)
            .send_log_event(log_event())
            .await;
        assert!(refused.is_err(), "a foreign certificate must not deliver");
    }
    assert_eq!(recorded(&scratch).len(), 3);
    shutdown_via_controller(&mut plugin, channel).await;
}

#[tokio::test]
async fn fail_while_file_fails_deliveries_until_removed() {
    let scratch = Scratch::new();
    let gate = scratch.path("fail-now");
    std::fs::write(&gate, b"").expect("create gate");
    let mut command = scratch.command();
    command.arg("--fail-while").arg(&gate);
    let mut plugin = Plugin::start(command).await;
    let channel = plugin.unix_channel().await;
    let mut client = NotifierClient::new(channel.clone());

    let err = client
        .send_fs_event(fs_event())
        .await
        .expect_err("fails while the file exists");
    assert_eq!(err.code(), Code::Unavailable);
    assert!(
        err.message().contains(&gate.display().to_string()),
        "message names the file: {}",
        err.message()
    );
    assert!(
        recorded(&scratch).is_empty(),
        "a failed delivery is not recorded"
    );

    std::fs::remove_file(&gate).expect("remove gate");
    client
        .send_fs_event(fs_event())
        .await
        .expect("succeeds once removed");
    assert_eq!(recorded(&scratch), vec![Event::Fs(fs_event())]);
    shutdown_via_controller(&mut plugin, channel).await;
}

#[tokio::test]
async fn controller_shutdown_exits_0_even_with_broker_and_stdio_streams_open() {
    let scratch = Scratch::new();
    let mut plugin = Plugin::start(scratch.command()).await;
    let socket_dir = plugin.socket_path().parent().expect("dir").to_owned();
    let channel = plugin.unix_channel().await;

    // What a go-plugin client opens on connect: the broker stream, and (newer) stdio.
    let (_keep_open, outbound) = tokio::sync::mpsc::channel(1);
    let mut broker = GrpcBrokerClient::new(channel.clone())
        .start_stream(tokio_stream_from(outbound))
        .await
        .expect("broker stream accepted")
        .into_inner();
    let mut stdio = GrpcStdioClient::new(channel.clone())
        .stream_stdio(())
        .await
        .expect("stdio stream accepted")
        .into_inner();
    // Both idle: nothing arrives.
    let idle = tokio::time::timeout(Duration::from_millis(200), stdio.message()).await;
    assert!(idle.is_err(), "stdio sends nothing: {idle:?}");

    shutdown_via_controller(&mut plugin, channel).await;
    assert!(!socket_dir.exists(), "socket directory removed");
    // The streams ended with the plugin rather than holding the stop up.
    let stderr = plugin.stderr_to_end().await;
    assert!(
        !stderr.contains("grace period"),
        "graceful stop had to wait for open streams:\n{stderr}"
    );
    assert!(stderr.contains("notifier plugin stopped"), "{stderr}");
    let broker_end = tokio::time::timeout(DEADLINE, broker.message()).await;
    assert!(
        !matches!(broker_end, Ok(Ok(Some(_)))),
        "broker sent nothing"
    );
}

/// A client-streaming request body from an mpsc receiver.
fn tokio_stream_from(
    mut receiver: tokio::sync::mpsc::Receiver<plexus_proto::goplugin::ConnInfo>,
) -> impl futures::Stream<Item = plexus_proto::goplugin::ConnInfo> + Send + 'static {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

#[tokio::test]
async fn sigint_is_ignored_and_sigterm_stops_gracefully() {
    let scratch = Scratch::new();
    let mut plugin = Plugin::start(scratch.command()).await;
    let socket_dir = plugin.socket_path().parent().expect("dir").to_owned();
    let channel = plugin.unix_channel().await;

    signal(plugin.pid(), libc::SIGINT);
    // Still serving after the interrupt (poll until the signal has surely been handled).
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            health(channel.clone(), "plugin")
                .await
                .expect("serving after SIGINT"),
            ServingStatus::Serving as i32
        );
    }
    assert!(
        plugin.child.try_wait().expect("try_wait").is_none(),
        "SIGINT must not stop it"
    );

    signal(plugin.pid(), libc::SIGTERM);
    let status = plugin.wait_exit().await;
    assert!(
        status.success(),
        "exit {status:?}; stderr:\n{}",
        plugin.stderr()
    );
    assert!(
        !socket_dir.exists(),
        "socket directory removed after SIGTERM"
    );
}

#[tokio::test]
async fn protocol_version_negotiation() {
    // No version in common: a clear error, non-zero exit, nothing on stdout.
    let scratch = Scratch::new();
    let mut command = scratch.command();
    command.env("PLUGIN_PROTOCOL_VERSIONS", "2");
    let (status, stdout, stderr) = run_to_exit(command).await;
    assert!(!status.success(), "must fail; stderr:\n{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("PLUGIN_PROTOCOL_VERSIONS"), "{stderr}");
    assert!(stderr.contains("only version 1"), "{stderr}");

    // Several offered (with junk): the highest common one, 1.
    let scratch = Scratch::new();
    let mut command = scratch.command();
    command.env("PLUGIN_PROTOCOL_VERSIONS", "3, 1,x,2");
    let mut plugin = Plugin::start(command).await;
    assert_eq!(plugin.handshake.app_version, 1);
    let channel = plugin.unix_channel().await;
    shutdown_via_controller(&mut plugin, channel).await;

    // Not offered at all (an old host): the plugin's own version.
    let scratch = Scratch::new();
    let mut command = scratch.command();
    command.env_remove("PLUGIN_PROTOCOL_VERSIONS");
    let mut plugin = Plugin::start(command).await;
    assert_eq!(plugin.handshake.app_version, 1);
    let channel = plugin.unix_channel().await;
    shutdown_via_controller(&mut plugin, channel).await;
}

#[tokio::test]
async fn env_dump_holds_exactly_the_environment() {
    let scratch = Scratch::new();
    let dump = scratch.path("env.txt");
    let mut command = scratch.command();
    command
        .env("ZZ_MULTILINE", "line1\nline2\r\\end")
        .env("AA_FIRST", "1")
        .arg("--env-dump")
        .arg(&dump);
    let mut plugin = Plugin::start(command).await;
    let text = std::fs::read_to_string(&dump).expect("env dump written at start");
    assert_eq!(mode(&dump), 0o600, "the environment is owner-only");
    let lines: Vec<&str> = text.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted, "sorted");
    let entries: HashMap<&str, &str> = lines
        .iter()
        .map(|line| line.split_once('=').expect("KEY=VALUE"))
        .collect();
    let cookie = PluginKind::Notifier.cookie();
    let socket_base = scratch.dir.path().display().to_string();
    let expected: HashMap<&str, &str> = [
        ("AA_FIRST", "1"),
        ("ZZ_MULTILINE", "line1\\nline2\\r\\\\end"),
        (cookie.key, cookie.value),
        ("PLUGIN_PROTOCOL_VERSIONS", "1"),
        ("PLUGIN_UNIX_SOCKET_DIR", socket_base.as_str()),
    ]
    .into_iter()
    .collect();
    assert_eq!(entries, expected, "exactly the given environment:\n{text}");
    let channel = plugin.unix_channel().await;
    shutdown_via_controller(&mut plugin, channel).await;
}
