//! AWS Signature Version 4 for AWS KMS's JSON protocol: one POST with a
//! JSON body and four signed headers (`content-type`, `host`, `x-amz-date`,
//! `x-amz-target`, plus `x-amz-security-token` with temporary
//! credentials). The signature is computed by `aws-sigv4`, the AWS SDK's own
//! signer (also used by plexus-pubsub for SNS/SQS), without the rest of the
//! SDK; this module only shapes the KMS request for it, and its test checks
//! the result against vectors botocore signed (`testdata/sigv4-vector.json`).

use aws_sigv4::http_request::{sign as sigv4_sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The content type of AWS KMS's JSON protocol.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The credentials requests are signed with (from plexus-aws-credentials).
pub use plexus_aws_credentials::Credentials;

/// What one request is: everything that is signed.
#[derive(Debug, Clone, Copy)]
pub struct JsonRequest<'a> {
    /// `host` or `host:port` as sent in the Host header.
    pub host: &'a str,
    /// The URL path, `/` for the service root.
    pub path: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// `X-Amz-Target`, e.g. `TrentService.Encrypt`.
    pub target: &'a str,
    pub body: &'a [u8],
}

/// `yyyymmddThhmmssZ` for a UTC time.
pub fn amz_date(now: time::OffsetDateTime) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// The instant an `amz_date` stands for.
fn parse_amz_date(amz_date: &str) -> Result<SystemTime, String> {
    let bad = || format!("{amz_date:?} is not a yyyymmddThhmmssZ date");
    let digits = |range: std::ops::Range<usize>| -> Result<u32, String> {
        amz_date
            .get(range)
            .and_then(|d| d.parse().ok())
            .ok_or_else(bad)
    };
    if amz_date.len() != 16 || amz_date.get(8..9) != Some("T") || !amz_date.ends_with('Z') {
        return Err(bad());
    }
    let month = time::Month::try_from(digits(4..6)? as u8).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(digits(0..4)? as i32, month, digits(6..8)? as u8)
        .map_err(|_| bad())?;
    let clock = time::Time::from_hms(
        digits(9..11)? as u8,
        digits(11..13)? as u8,
        digits(13..15)? as u8,
    )
    .map_err(|_| bad())?;
    let seconds = date.with_time(clock).assume_utc().unix_timestamp();
    let seconds = u64::try_from(seconds).map_err(|_| bad())?;
    Ok(UNIX_EPOCH + Duration::from_secs(seconds))
}

/// The headers to add to the request: `x-amz-date`, `authorization` and,
/// with a session token, `x-amz-security-token`.
pub fn sign(
    request: &JsonRequest<'_>,
    credentials: &Credentials,
    amz_date: &str,
) -> Result<Vec<(&'static str, String)>, String> {
    let identity: Identity = credentials.identity();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(request.region)
        .name(request.service)
        .time(parse_amz_date(amz_date)?)
        .settings(SigningSettings::default())
        .build()
        .map_err(|err| format!("cannot sign the request: {err}"))?
        .into();
    let url = format!("https://{}{}", request.host, request.path);
    let headers = [
        ("content-type", CONTENT_TYPE),
        ("host", request.host),
        ("x-amz-target", request.target),
    ];
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.into_iter(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|err| format!("cannot sign the request: {err}"))?;
    let (instructions, _signature) = sigv4_sign(signable, &params)
        .map_err(|err| format!("cannot sign the request: {err}"))?
        .into_parts();
    let mut out = Vec::new();
    for (name, value) in instructions.headers() {
        let name = match name {
            "x-amz-date" => "x-amz-date",
            "authorization" => "authorization",
            "x-amz-security-token" => "x-amz-security-token",
            // Nothing else is signed for a JSON request without a checksum.
            _ => continue,
        };
        out.push((name, value.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vector {
        name: String,
        endpoint: String,
        region: String,
        target: String,
        body: String,
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
        amz_date: String,
        authorization: String,
    }

    #[test]
    fn matches_botocore() {
        let vectors: Vec<Vector> =
            serde_json::from_str(include_str!("../testdata/sigv4-vector.json")).unwrap();
        assert_eq!(vectors.len(), 2);
        for v in vectors {
            let url = url::Url::parse(&v.endpoint).unwrap();
            let host = match url.port() {
                Some(port) => format!("{}:{port}", url.host_str().unwrap()),
                None => url.host_str().unwrap().to_owned(),
            };
            let request = JsonRequest {
                host: &host,
                path: url.path(),
                region: &v.region,
                service: "kms",
                target: &v.target,
                body: v.body.as_bytes(),
            };
            let credentials = Credentials::new(
                v.access_key_id,
                v.secret_access_key,
                v.session_token.clone(),
                "test vector",
            );
            let headers = sign(&request, &credentials, &v.amz_date).unwrap();
            let get = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(
                get("authorization"),
                Some(v.authorization.as_str()),
                "{}",
                v.name
            );
            assert_eq!(get("x-amz-date"), Some(v.amz_date.as_str()));
            assert_eq!(get("x-amz-security-token"), v.session_token.as_deref());
        }
    }

    #[test]
    fn amz_date_format() {
        let t = time::OffsetDateTime::from_unix_timestamp(1_440_938_160).unwrap();
        assert_eq!(amz_date(t), "20150830T123600Z");
    }

    #[test]
    fn amz_dates_parse_back() {
        let t = time::OffsetDateTime::from_unix_timestamp(1_440_938_160).unwrap();
        assert_eq!(
            parse_amz_date(&amz_date(t)).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_440_938_160)
        );
        assert!(parse_amz_date("2015-08-30").is_err());
        assert!(parse_amz_date("20151330T123600Z").is_err());
    }
}
