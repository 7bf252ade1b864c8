//! AWS STS, the two calls that turn one identity into temporary
//! credentials for a role, over STS's query protocol (a form POST, an XML
//! answer), as aws-sdk-go-v2's `stscreds` providers make them:
//!
//! - `AssumeRole`, signed (SigV4, service `sts`) with the source
//!   credentials: `RoleArn`, `RoleSessionName` (the profile's, else
//!   `aws-go-sdk-<unix nanoseconds>` as the SDK generates it),
//!   `DurationSeconds` (900 unless the profile asks for more) and
//!   `ExternalId` when set;
//! - `AssumeRoleWithWebIdentity`, unsigned: the token is read from its
//!   file at each call (the file is rotated by whoever writes it, e.g.
//!   Kubernetes), `RoleSessionName` the given one else the unix
//!   nanoseconds, as the SDK does.
//!
//! The endpoint is resolved by [`crate::endpoint`] (`AWS_ENDPOINT_URL_STS`
//! ..., else `https://sts.REGION.amazonaws.com/`). Errors carry STS's code
//! and message, never the token or the keys.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use crate::credentials::Credentials;
use crate::error::Error;
use crate::expiry;
use crate::http::describe;

const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
const VERSION: &str = "2011-06-15";

/// The STS endpoint and the region requests are signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub region: String,
}

/// What `AssumeRole` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
    pub duration_seconds: u32,
}

/// What `AssumeRoleWithWebIdentity` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebIdentity {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub token_file: PathBuf,
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The `AssumeRole` form; `session_name` already chosen.
pub fn assume_role_form(request: &AssumeRole, session_name: &str) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", "AssumeRole")
        .append_pair("Version", VERSION)
        .append_pair("RoleArn", &request.role_arn)
        .append_pair("RoleSessionName", session_name)
        .append_pair("DurationSeconds", &request.duration_seconds.to_string());
    if let Some(external_id) = &request.external_id {
        form.append_pair("ExternalId", external_id);
    }
    form.finish()
}

/// The `AssumeRoleWithWebIdentity` form.
pub fn web_identity_form(role_arn: &str, session_name: &str, token: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("Version", VERSION)
        .append_pair("RoleArn", role_arn)
        .append_pair("RoleSessionName", session_name)
        .append_pair("WebIdentityToken", token)
        .finish()
}

/// The text of the first `<name>...</name>` in `xml`, entities decoded.
fn tag(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(
        xml[start..end]
            .trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#xD;", "\r")
            .replace("&amp;", "&"),
    )
}

/// The credentials of a successful answer.
pub fn parse_credentials(xml: &str, source: &str) -> Result<Credentials, String> {
    let block = tag(xml, "Credentials").ok_or("the answer has no Credentials")?;
    let field = |name: &str| {
        tag(&block, name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("the answer has no {name}"))
    };
    let access_key_id = field("AccessKeyId")?;
    let secret_access_key = field("SecretAccessKey")?;
    let session_token = field("SessionToken")?;
    let expiration = field("Expiration")?;
    let expires = expiry::parse(&expiration)
        .ok_or_else(|| format!("the answer's Expiration {expiration:?} is not a timestamp"))?;
    Ok(Credentials::new(
        access_key_id,
        secret_access_key,
        Some(session_token),
        source,
    )
    .expiring(Some(expires)))
}

/// `Code: Message` of an STS error answer, else its first characters.
fn error_text(body: &str) -> String {
    match (tag(body, "Code"), tag(body, "Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => body.chars().take(200).collect::<String>().trim().to_owned(),
    }
}

async fn post(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    action: &str,
    body: String,
    headers: Vec<(String, String)>,
) -> Result<String, Error> {
    let mut request = http.post(&endpoint.url).body(body);
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await.map_err(|err| {
        Error::fetch(format!(
            "STS {action} at {}: {}",
            endpoint.url,
            describe(&err)
        ))
    })?;
    let status = response.status();
    let text = response.text().await.map_err(|err| {
        Error::fetch(format!(
            "STS {action} at {}: unreadable answer: {}",
            endpoint.url,
            describe(&err)
        ))
    })?;
    if !status.is_success() {
        return Err(Error::fetch(format!(
            "STS {action} at {} refused (HTTP {}): {}",
            endpoint.url,
            status.as_u16(),
            error_text(&text)
        )));
    }
    Ok(text)
}

/// `AssumeRole` signed with `source`.
pub async fn assume_role(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    request: &AssumeRole,
    source: &Credentials,
) -> Result<Credentials, Error> {
    let session_name = request
        .session_name
        .clone()
        .unwrap_or_else(|| format!("aws-go-sdk-{}", unix_nanos()));
    let body = assume_role_form(request, &session_name);
    let mut headers = vec![("content-type".to_owned(), CONTENT_TYPE.to_owned())];
    let sign_error = |err: &dyn std::fmt::Display| {
        Error::config(format!(
            "cannot sign the STS AssumeRole request for {}: {err}",
            endpoint.url
        ))
    };
    let identity = source.identity();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&endpoint.region)
        .name("sts")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|err| sign_error(&err))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        &endpoint.url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|err| sign_error(&err))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|err| sign_error(&err))?
        .into_parts();
    for (name, value) in instructions.headers() {
        headers.push((name.to_owned(), value.to_owned()));
    }
    let text = post(http, endpoint, "AssumeRole", body, headers)
        .await
        .map_err(|err| err.context(&format!("assume role {}", request.role_arn)))?;
    parse_credentials(&text, &format!("STS AssumeRole {}", request.role_arn)).map_err(|message| {
        Error::fetch(format!(
            "assume role {}: STS AssumeRole at {}: {message}",
            request.role_arn, endpoint.url
        ))
    })
}

/// `AssumeRoleWithWebIdentity` with the token read from its file now.
pub async fn assume_role_with_web_identity(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    request: &WebIdentity,
) -> Result<Credentials, Error> {
    let context = format!(
        "assume role {} with the web identity token in {}",
        request.role_arn,
        request.token_file.display()
    );
    let token = std::fs::read_to_string(&request.token_file).map_err(|err| {
        Error::fetch(format!(
            "{context}: cannot read {}: {err}",
            request.token_file.display()
        ))
    })?;
    let session_name = request
        .session_name
        .clone()
        .unwrap_or_else(|| unix_nanos().to_string());
    let body = web_identity_form(&request.role_arn, &session_name, token.trim());
    let headers = vec![("content-type".to_owned(), CONTENT_TYPE.to_owned())];
    let text = post(http, endpoint, "AssumeRoleWithWebIdentity", body, headers)
        .await
        .map_err(|err| err.context(&context))?;
    parse_credentials(
        &text,
        &format!("STS AssumeRoleWithWebIdentity {}", request.role_arn),
    )
    .map_err(|message| Error::fetch(format!("{context}: {message}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let request = AssumeRole {
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            session_name: None,
            external_id: Some("ext id".into()),
            duration_seconds: 900,
        };
        assert_eq!(
            assume_role_form(&request, "s"),
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr\
             &RoleSessionName=s&DurationSeconds=900&ExternalId=ext+id"
        );
        assert_eq!(
            web_identity_form("arn:r", "n", "tok.en/+="),
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Ar&RoleSessionName=n\
             &WebIdentityToken=tok.en%2F%2B%3D"
        );
    }

    #[test]
    fn answers() {
        let xml = "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
            <AssumeRoleResult><AssumedRoleUser><Arn>arn</Arn></AssumedRoleUser><Credentials>\
            <AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>se/cr+et&amp;</SecretAccessKey>\
            <SessionToken>to&lt;ken</SessionToken><Expiration>2026-01-02T03:04:05.000Z</Expiration>\
            </Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let c = parse_credentials(xml, "test").unwrap();
        assert_eq!(c.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(c.secret_access_key(), "se/cr+et&");
        assert_eq!(c.session_token(), Some("to<ken"));
        assert_eq!(c.expires(), expiry::parse("2026-01-02T03:04:05Z"));
        let err = parse_credentials(
            "<Credentials><AccessKeyId>A</AccessKeyId></Credentials>",
            "t",
        )
        .unwrap_err();
        assert_eq!(err, "the answer has no SecretAccessKey");
        assert_eq!(
            error_text(
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
                 <Message>not allowed</Message></Error></ErrorResponse>"
            ),
            "AccessDenied: not allowed"
        );
    }
}
