//! `ipfilter-cidr` as a real plugin process: allowed and denied addresses
//! (IPv4, IPv6, IPv4-mapped), bad input, Reload picking up a changed
//! allow-file (and only on Reload), a broken file keeping the old list,
//! start-up errors and `--help`.

mod common;

use common::{run_to_exit, Plugin, Scratch};
use plexus_proto::sftpgo::ip_filter_client::IpFilterClient;
use plexus_proto::sftpgo::CheckIpRequest;
use plexus_proto::PluginKind;
use tonic::transport::Channel;
use tonic::Code;

const BIN: &str = env!("CARGO_BIN_EXE_ipfilter-cidr");

async fn start(scratch: &Scratch, args: &[&str]) -> (Plugin, IpFilterClient<Channel>) {
    let mut command = scratch.plugin_command(BIN, PluginKind::IpFilter);
    command.args(args);
    let plugin = Plugin::start(command).await;
    let client = IpFilterClient::new(plugin.unix_channel().await);
    (plugin, client)
}

/// `Ok(())` when allowed, else the status code and message.
async fn check(client: &mut IpFilterClient<Channel>, ip: &str) -> Result<(), (Code, String)> {
    client
        .check_ip(CheckIpRequest {
            ip: ip.into(),
            protocol: "SSH".into(),
        })
        .await
        .map(|_| ())
        .map_err(|status| (status.code(), status.message().to_owned()))
}

#[tokio::test]
async fn allows_listed_networks_and_denies_the_rest() {
    let scratch = Scratch::new();
    let allow_file = scratch.path("allow.txt");
    std::fs::write(
        &allow_file,
        "# offices\n192.168.10.0/24   # HQ\n\n2001:db8:cafe::/48\n203.0.113.7\n",
    )
    .unwrap();
    let (plugin, mut client) = start(
        &scratch,
        &[
            "--allow",
            "10.0.0.0/8",
            "--allow",
            "::1",
            "--allow-file",
            allow_file.to_str().unwrap(),
        ],
    )
    .await;
    plugin
        .wait_stderr_contains("ip filter plugin starting")
        .await;

    for ip in [
        "10.1.2.3",
        "10.255.255.255",
        "::1",
        "192.168.10.200",
        "2001:db8:cafe:1::5",
        "203.0.113.7",
        "::ffff:10.9.8.7",
    ] {
        assert_eq!(check(&mut client, ip).await, Ok(()), "{ip} is allowed");
    }
    for ip in [
        "11.0.0.1",
        "192.168.11.1",
        "203.0.113.8",
        "2001:db8:caff::1",
        "::2",
        "0.0.0.0",
    ] {
        let (code, message) = check(&mut client, ip).await.unwrap_err();
        assert_eq!(code, Code::PermissionDenied, "{ip}: {message}");
        assert!(message.contains(ip), "the denial names {ip}: {message}");
    }
    for bad in ["", "not-an-ip", "10.0.0.1/8", "300.1.1.1", " 10.0.0.1"] {
        let (code, message) = check(&mut client, bad).await.unwrap_err();
        assert_eq!(code, Code::InvalidArgument, "{bad:?}: {message}");
    }
}

#[tokio::test]
async fn reload_picks_up_the_changed_file_and_keeps_the_old_list_on_errors() {
    let scratch = Scratch::new();
    let allow_file = scratch.path("allow.txt");
    std::fs::write(&allow_file, "198.51.100.0/24\n").unwrap();
    let (plugin, mut client) =
        start(&scratch, &["--allow-file", allow_file.to_str().unwrap()]).await;
    check(&mut client, "198.51.100.9").await.unwrap();
    check(&mut client, "192.0.2.1").await.unwrap_err();

    // A changed file takes effect on Reload only.
    std::fs::write(&allow_file, "192.0.2.0/24\n").unwrap();
    check(&mut client, "192.0.2.1").await.unwrap_err();
    check(&mut client, "198.51.100.9").await.unwrap();
    client.reload(()).await.unwrap();
    check(&mut client, "192.0.2.1").await.unwrap();
    let (code, _) = check(&mut client, "198.51.100.9").await.unwrap_err();
    assert_eq!(code, Code::PermissionDenied);
    plugin.wait_stderr_contains("allow-list reloaded").await;

    // A file that no longer parses fails the Reload, naming the line; the
    // list in force stays.
    std::fs::write(&allow_file, "192.0.2.0/24\n2001:db8::/129\n").unwrap();
    let status = client.reload(()).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("allow.txt:2"), "{status:?}");
    check(&mut client, "192.0.2.1").await.unwrap();
    // A file that is gone: the same.
    std::fs::remove_file(&allow_file).unwrap();
    assert_eq!(
        client.reload(()).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    check(&mut client, "192.0.2.1").await.unwrap();
}

#[tokio::test]
async fn bad_configuration_stops_the_plugin_with_a_clear_error() {
    let scratch = Scratch::new();
    let mut command = scratch.plugin_command(BIN, PluginKind::IpFilter);
    command.args(["--allow", "10.0.0.0/40"]);
    let (status, stdout, stderr) = run_to_exit(command).await;
    assert_eq!(status.code(), Some(1));
    assert!(stdout.is_empty(), "no handshake: {stdout}");
    assert!(
        stderr.contains("[ERROR] ipfilter-cidr: --allow") && stderr.contains("0-32"),
        "{stderr}"
    );

    let allow_file = scratch.path("allow.txt");
    std::fs::write(&allow_file, "10.0.0.0/8\nbogus # here\n").unwrap();
    let mut command = scratch.plugin_command(BIN, PluginKind::IpFilter);
    command.arg("--allow-file").arg(&allow_file);
    let (status, _, stderr) = run_to_exit(command).await;
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("allow.txt:2"), "{stderr}");

    let mut command = scratch.plugin_command(BIN, PluginKind::IpFilter);
    command.arg("--allow-file").arg(scratch.path("missing.txt"));
    let (status, _, stderr) = run_to_exit(command).await;
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("missing.txt"), "{stderr}");
}

#[tokio::test]
async fn an_empty_list_denies_everything_and_says_so() {
    let scratch = Scratch::new();
    let (plugin, mut client) = start(&scratch, &[]).await;
    plugin.wait_stderr_contains("the allow-list is empty").await;
    assert_eq!(
        check(&mut client, "127.0.0.1").await.unwrap_err().0,
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn help_explains_the_plugin_without_a_host() {
    let mut command = tokio::process::Command::new(BIN);
    command.arg("--help").env_clear();
    let (status, stdout, _) = run_to_exit(command).await;
    assert!(status.success());
    for needle in [
        "--allow <CIDR>",
        "--allow-file <PATH>",
        "Reload",
        "\"type\": \"ipfilter\"",
    ] {
        assert!(
            stdout.contains(needle),
            "--help lacks {needle:?}:\n{stdout}"
        );
    }
}
