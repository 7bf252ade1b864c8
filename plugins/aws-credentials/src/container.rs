//! Container credentials (ECS task roles, EKS Pod Identity), as
//! aws-sdk-go-v2's `endpointcreds` provider and `config` read them:
//!
//! - `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`: `http://169.254.170.2` +
//!   the path (ECS); it wins over the full URI;
//! - `AWS_CONTAINER_CREDENTIALS_FULL_URI`: any `https://` URL, or an
//!   `http://` one whose host is a loopback address or the ECS/EKS agent
//!   (169.254.170.2, 169.254.170.23, fd00:ec2::23); a host name must
//!   resolve to such addresses only;
//! - the `Authorization` header: the content of
//!   `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read at each call, the
//!   agent rotates it), else `AWS_CONTAINER_AUTHORIZATION_TOKEN`; a token
//!   with a line break is refused, as the SDK refuses it;
//! - the answer: JSON `AccessKeyId`, `SecretAccessKey`, `Token`,
//!   `Expiration`; an error answer's `code` and `message` are reported.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::PathBuf;

use crate::credentials::Credentials;
use crate::env::Env;
use crate::error::Error;
use crate::expiry;
use crate::http::describe;
use crate::json_fields;

/// The ECS agent, for relative URIs.
pub const ECS_ENDPOINT: &str = "http://169.254.170.2";

const ECS_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);
const EKS_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);
const EKS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x23);

/// Where the `Authorization` header comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Token {
    None,
    Value(String),
    File(PathBuf),
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::None => f.write_str("None"),
            Token::Value(_) => f.write_str("Value(<redacted>)"),
            Token::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// A container credentials endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub url: String,
    /// The variable the URL came from, for messages.
    pub variable: &'static str,
    pub token: Token,
}

fn allowed(ip: IpAddr) -> bool {
    ip.is_loopback()
        || ip == IpAddr::V4(ECS_V4)
        || ip == IpAddr::V4(EKS_V4)
        || ip == IpAddr::V6(EKS_V6)
}

/// Whether an `http://` host is one the SDK lets credentials come from.
fn allowed_host(host: &str) -> Result<bool, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(allowed(ip));
    }
    let addrs: Vec<_> = (bare, 80)
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve {host:?}: {err}"))?
        .collect();
    Ok(!addrs.is_empty() && addrs.iter().all(|a| allowed(a.ip())))
}

/// Checks a full URI as the SDK does.
pub fn check_full_uri(uri: &str) -> Result<(), String> {
    let url = url::Url::parse(uri).map_err(|err| format!("{uri:?} is not a URL ({err})"))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("{uri:?} has no host"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            if allowed_host(host)? {
                Ok(())
            } else {
                Err(format!(
                    "the host {host:?} of {uri:?} is not allowed: over http only loopback \
                     addresses and the ECS/EKS agent (169.254.170.2, 169.254.170.23, \
                     fd00:ec2::23) are"
                ))
            }
        }
        other => Err(format!("{uri:?} is not http(s) (scheme {other:?})")),
    }
}

impl Container {
    /// The endpoint the environment names, if any (the relative URI
    /// first); an error for a full URI the SDK would refuse.
    pub fn from_env(env: &Env) -> Result<Option<Container>, Error> {
        let token = match (
            env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
            env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        ) {
            (Some(file), _) => Token::File(PathBuf::from(file)),
            (None, Some(value)) => Token::Value(value.to_owned()),
            (None, None) => Token::None,
        };
        if let Some(path) = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            return Ok(Some(Container {
                url: format!("{ECS_ENDPOINT}{path}"),
                variable: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                token,
            }));
        }
        if let Some(uri) = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            check_full_uri(uri).map_err(|why| {
                Error::config(format!("AWS_CONTAINER_CREDENTIALS_FULL_URI: {why}"))
            })?;
            return Ok(Some(Container {
                url: uri.to_owned(),
                variable: "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                token,
            }));
        }
        Ok(None)
    }

    fn token(&self) -> Result<Option<String>, Error> {
        let (token, origin) = match &self.token {
            Token::None => return Ok(None),
            Token::Value(value) => (
                value.clone(),
                "AWS_CONTAINER_AUTHORIZATION_TOKEN".to_owned(),
            ),
            Token::File(path) => (
                std::fs::read_to_string(path).map_err(|err| {
                    Error::fetch(format!(
                        "container credentials: cannot read the authorization token file {} \
                         (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE): {err}",
                        path.display()
                    ))
                })?,
                format!("the token file {}", path.display()),
            ),
        };
        if token.contains(['\r', '\n']) {
            return Err(Error::fetch(format!(
                "container credentials: the authorization token in {origin} contains a line break"
            )));
        }
        Ok(Some(token).filter(|t| !t.is_empty()))
    }

    /// Fetches the credentials.
    pub async fn fetch(&self, http: &reqwest::Client) -> Result<Credentials, Error> {
        let context = format!("container credentials at {} ({})", self.url, self.variable);
        let mut request = http.get(&self.url).header("accept", "application/json");
        if let Some(token) = self.token()? {
            request = request.header("authorization", token);
        }
        let response = request
            .send()
            .await
            .map_err(|err| Error::fetch(format!("{context}: {}", describe(&err))))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|err| {
            Error::fetch(format!("{context}: unreadable answer: {}", describe(&err)))
        })?;
        if !status.is_success() {
            let detail = json_fields::object(&body)
                .ok()
                .and_then(|o| {
                    let code = json_fields::string(&o, "code").ok().flatten();
                    let message = json_fields::string(&o, "message").ok().flatten();
                    match (code, message) {
                        (Some(c), Some(m)) => Some(format!(": {c}: {m}")),
                        (Some(c), None) => Some(format!(": {c}")),
                        (None, Some(m)) => Some(format!(": {m}")),
                        (None, None) => None,
                    }
                })
                .unwrap_or_default();
            return Err(Error::fetch(format!(
                "{context} refused (HTTP {}){detail}",
                status.as_u16()
            )));
        }
        parse(&body, &format!("container credentials at {}", self.url))
            .map_err(|why| Error::fetch(format!("{context}: the answer {why}")))
    }
}

/// The credentials of a successful answer.
pub fn parse(body: &[u8], source: &str) -> Result<Credentials, String> {
    let object = json_fields::object(body).map_err(|why| format!("is {why}"))?;
    let has = |why: String| format!("has {why}");
    let access_key_id = json_fields::required(&object, "AccessKeyId").map_err(has)?;
    let secret_access_key = json_fields::required(&object, "SecretAccessKey").map_err(has)?;
    let token = json_fields::string(&object, "Token").map_err(has)?;
    let expires = match json_fields::string(&object, "Expiration").map_err(has)? {
        None => None,
        Some(text) => Some(
            expiry::parse(&text)
                .ok_or_else(|| format!("has an Expiration {text:?} that is not a timestamp"))?,
        ),
    };
    Ok(Credentials::new(access_key_id, secret_access_key, token, source).expiring(expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_uri_hosts() {
        for ok in [
            "http://127.0.0.1:8080/creds",
            "http://[::1]/creds",
            "http://localhost/creds",
            "http://169.254.170.2/v2/credentials",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "https://creds.example.com/x",
        ] {
            check_full_uri(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, why) in [
            ("http://192.0.2.1/creds", "is not allowed"),
            ("http://10.0.0.1/creds", "is not allowed"),
            ("ftp://127.0.0.1/creds", "is not http(s)"),
            ("/just/a/path", "is not a URL"),
        ] {
            let err = check_full_uri(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn relative_uri_wins_and_tokens() {
        let env = Env::from_pairs(&[
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/abc",
            ),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"),
        ]);
        let c = Container::from_env(&env).unwrap().unwrap();
        assert_eq!(c.url, "http://169.254.170.2/v2/credentials/abc");
        assert_eq!(c.token, Token::Value("tok".into()));
        assert!(!format!("{c:?}").contains("tok\""));
        let env = Env::from_pairs(&[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"),
        ]);
        let err = Container::from_env(&env).unwrap_err();
        assert!(
            err.message()
                .starts_with("AWS_CONTAINER_CREDENTIALS_FULL_URI: the host \"192.0.2.1\""),
            "{err}"
        );
        assert_eq!(Container::from_env(&Env::default()).unwrap(), None);
    }

    #[test]
    fn token_with_line_break_is_refused() {
        let c = Container {
            url: "http://127.0.0.1/".into(),
            variable: "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            token: Token::Value("a\nb".into()),
        };
        let err = c.token().unwrap_err();
        assert!(err.message().contains("line break") && !err.message().contains("a\nb"));
    }

    #[test]
    fn answers() {
        let c = parse(
            br#"{"AccessKeyId":"A","SecretAccessKey":"S","Token":"T","Expiration":"2026-01-02T03:04:05Z","RoleArn":"r"}"#,
            "t",
        )
        .unwrap();
        assert_eq!((c.access_key_id(), c.session_token()), ("A", Some("T")));
        assert!(c.expires().is_some());
        assert_eq!(
            parse(br#"{"AccessKeyId":"A"}"#, "t").unwrap_err(),
            "has no SecretAccessKey"
        );
    }
}
