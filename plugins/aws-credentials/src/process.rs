//! `credential_process`: a profile names a command that prints
//! credentials, as aws-sdk-go-v2's `processcreds` runs it: through
//! `sh -c`, with this process's environment, one minute at most; its
//! standard output is JSON
//! `{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken",
//! "Expiration"}` (keys matched without regard to case, as Go's JSON
//! decoder matches them; `SessionToken` and `Expiration` optional).
//!
//! The output holds secrets, so no error repeats it: a malformed answer
//! is described by what is wrong with it. A failing command is reported
//! with its exit status and the last line of its standard error.

use std::process::Stdio;
use std::time::Duration;

use crate::credentials::Credentials;
use crate::error::Error;
use crate::expiry;
use crate::json_fields;

/// How long the command may run.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The credentials in the command's output.
pub fn parse_output(output: &[u8], source: &str) -> Result<Credentials, String> {
    let object = json_fields::object(output).map_err(|why| {
        format!("its output is {why} (expected the Version 1 credentials object)")
    })?;
    match json_fields::field(&object, "Version") {
        Some(v) if v.as_i64() == Some(1) => {}
        Some(v) => return Err(format!("its output has Version {v}, not 1")),
        None => return Err("its output has no Version (must be 1)".to_owned()),
    }
    let in_output = |why: String| format!("its output has {why}");
    let access_key_id = json_fields::required(&object, "AccessKeyId").map_err(in_output)?;
    let secret_access_key = json_fields::required(&object, "SecretAccessKey").map_err(in_output)?;
    let session_token = json_fields::string(&object, "SessionToken").map_err(in_output)?;
    let expires = match json_fields::string(&object, "Expiration").map_err(in_output)? {
        None => None,
        Some(text) => Some(expiry::parse(&text).ok_or_else(|| {
            format!("its output's Expiration {text:?} is not an RFC 3339 timestamp")
        })?),
    };
    Ok(Credentials::new(access_key_id, secret_access_key, session_token, source).expiring(expires))
}

/// The last non-empty line of `stderr`, shortened.
fn last_line(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?.trim();
    Some(line.chars().take(200).collect())
}

/// Runs `command` for `profile`'s credentials.
pub async fn fetch(command: &str, profile: &str) -> Result<Credentials, Error> {
    let context = format!("credential_process of profile {profile:?}");
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| Error::fetch(format!("{context}: cannot run sh -c: {err}")))?;
    let output = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            Error::fetch(format!(
                "{context}: no answer within {} s",
                TIMEOUT.as_secs()
            ))
        })?
        .map_err(|err| Error::fetch(format!("{context}: {err}")))?;
    if !output.status.success() {
        let status = match output.status.code() {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_owned(),
        };
        let detail = last_line(&output.stderr)
            .map(|line| format!(": {line}"))
            .unwrap_or_default();
        return Err(Error::fetch(format!("{context} failed ({status}){detail}")));
    }
    parse_output(
        &output.stdout,
        &format!("credential_process of profile {profile:?}"),
    )
    .map_err(|message| Error::fetch(format!("{context}: {message}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_output() {
        let c = parse_output(
            br#"{"Version":1,"AccessKeyId":"AKID","SecretAccessKey":"s3cret","SessionToken":"tok","Expiration":"2026-01-02T03:04:05Z"}"#,
            "t",
        )
        .unwrap();
        assert_eq!(
            (c.access_key_id(), c.secret_access_key(), c.session_token()),
            ("AKID", "s3cret", Some("tok"))
        );
        assert_eq!(c.expires(), expiry::parse("2026-01-02T03:04:05Z"));
        let c = parse_output(
            br#"{"version":1,"accesskeyid":"A","secretAccessKey":"S"}"#,
            "t",
        )
        .unwrap();
        assert_eq!(
            (c.access_key_id(), c.expires()),
            ("A", None),
            "case-insensitive keys"
        );
    }

    #[test]
    fn bad_outputs_never_echo_secrets() {
        for (output, expected) in [
            (&b"AKID s3cret"[..], "is not JSON"),
            (br#"{"Version":2,"AccessKeyId":"A","SecretAccessKey":"s3cret"}"#, "Version 2, not 1"),
            (br#"{"AccessKeyId":"A","SecretAccessKey":"s3cret"}"#, "no Version"),
            (br#"{"Version":1,"SecretAccessKey":"s3cret"}"#, "no AccessKeyId"),
            (br#"{"Version":1,"AccessKeyId":"A"}"#, "no SecretAccessKey"),
            (
                br#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"s3cret","Expiration":"soon"}"#,
                "Expiration \"soon\"",
            ),
        ] {
            let err = parse_output(output, "t").unwrap_err();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[tokio::test]
    async fn runs_through_the_shell() {
        let c = fetch(
            r#"printf '%s' '{"Version": 1, "AccessKeyId": "AKID", "SecretAccessKey": "S"}'"#,
            "p",
        )
        .await
        .unwrap();
        assert_eq!(c.access_key_id(), "AKID");
        let err = fetch("echo first >&2; echo 'no such role' >&2; exit 3", "p")
            .await
            .unwrap_err();
        assert_eq!(
            err,
            Error::Fetch(
                "credential_process of profile \"p\" failed (exit status 3): no such role".into()
            )
        );
    }
}
