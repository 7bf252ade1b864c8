//! The HTTP clients the credential sources share, each with the deadline
//! its kind of endpoint deserves: the instance metadata service is
//! link-local and answers in milliseconds when it exists, so a machine
//! without it must fail within a second, not hang; STS and the container
//! endpoint get the longer deadlines of a network service. Also the
//! wording of a transport error, without the URL reqwest puts in it (the
//! caller names the endpoint itself).

use std::time::Duration;

use crate::error::Error;

/// Deadline of one instance metadata request (token, role list, role).
pub const IMDS_TIMEOUT: Duration = Duration::from_secs(1);
/// Deadline of one container credentials request.
pub const CONTAINER_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline of one STS request.
pub const STS_TIMEOUT: Duration = Duration::from_secs(10);

/// One client per deadline; cheap to clone (connection pools shared).
#[derive(Debug, Clone)]
pub struct Clients {
    pub imds: reqwest::Client,
    pub container: reqwest::Client,
    pub sts: reqwest::Client,
}

fn client(timeout: Duration, local: bool) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none());
    if local {
        // The metadata and container endpoints are on this host or its
        // link-local network: never through a proxy of the environment.
        builder = builder.no_proxy();
    }
    builder
        .build()
        .map_err(|err| Error::config(format!("cannot build an HTTP client: {err}")))
}

impl Clients {
    pub fn new() -> Result<Clients, Error> {
        Ok(Clients {
            imds: client(IMDS_TIMEOUT, true)?,
            container: client(CONTAINER_TIMEOUT, true)?,
            sts: client(STS_TIMEOUT, false)?,
        })
    }
}

/// A reqwest error's message and causes, without its URL.
pub fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "connection failed".to_owned()
    } else {
        err.to_string()
    };
    if let Some(url) = err.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
