//! AWS SNS and SQS over their HTTP APIs, signed with SigV4 by the
//! `aws-sigv4` crate, with the message attributes Go CDK v0.46's awssnssqs
//! driver sets:
//!
//! - each metadata pair is a `String` attribute; the key hex-escaped where
//!   AWS refuses the character (`__0x2f__`), the value `url.PathEscape`d;
//! - a body that is not valid UTF-8 is sent in standard base64 with the
//!   attribute `base64encoded = "true"` (the JSON bodies of this plugin are
//!   always UTF-8, so in practice never).
//!
//! SNS is called with `Publish` (query protocol) and SQS with `SendMessage`
//! (JSON 1.0 protocol), one event per request; Go CDK groups concurrent
//! messages into `PublishBatch` / `SendMessageBatch` calls, which deliver
//! the same messages. The HTTP 200 answer is the acknowledgement; an AWS
//! error is that event's error. Only the AWS SigV4 signer is used instead
//! of the AWS SDK, whose build would weigh on the project's CI for two
//! calls; credentials come from plexus-aws-credentials (the SDK's default
//! chain), fetched once when the topic opens, so that a configuration
//! that gives none stops the start, then before each request (cached,
//! refreshed before temporary credentials expire).

use crate::aws_config::{AwsConfig, AwsTarget};
use crate::message::Message;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use std::time::{Duration, SystemTime};

/// The attribute Go CDK adds when it base64-encoded the body.
pub const BASE64_ATTRIBUTE: &str = "base64encoded";

const SNS_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
const SQS_CONTENT_TYPE: &str = "application/x-amz-json-1.0";

pub struct AwsPublisher {
    config: AwsConfig,
    http: reqwest::Client,
}

/// Go CDK's escaping of an attribute name: ASCII letters, digits, `_`,
/// `-`, and a `.` that neither starts the name nor follows another `.`
/// are kept; any other character becomes `__0x<hex>__`.
pub fn escape_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::with_capacity(key.len());
    for (i, c) in chars.iter().enumerate() {
        let keep = c.is_ascii_alphanumeric()
            || *c == '_'
            || *c == '-'
            || (*c == '.' && i != 0 && chars[i - 1] != '.');
        if keep {
            out.push(*c);
        } else {
            out.push_str(&format!("__0x{:x}__", u32::from(*c)));
        }
    }
    out
}

/// Go's `url.PathEscape`.
pub fn path_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => out.push(b as char),
            b'-' | b'_' | b'.' | b'~' | b'$' | b'&' | b'+' | b':' | b'=' | b'@' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The body as sent and the attributes, as Go CDK builds them.
pub fn attributes(message: &Message) -> (String, Vec<(String, String)>) {
    let mut attributes: Vec<(String, String)> = message
        .metadata
        .iter()
        .map(|(k, v)| (escape_key(k), path_escape(v)))
        .collect();
    let body = match std::str::from_utf8(&message.body) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            attributes.push((BASE64_ATTRIBUTE.to_owned(), "true".to_owned()));
            base64::engine::general_purpose::STANDARD.encode(&message.body)
        }
    };
    (body, attributes)
}

/// The `Publish` form for SNS.
pub fn sns_form(topic_arn: &str, message: &Message) -> String {
    let (body, attributes) = attributes(message);
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", "Publish")
        .append_pair("Version", "2010-03-31")
        .append_pair("TopicArn", topic_arn)
        .append_pair("Message", &body);
    for (n, (name, value)) in attributes.iter().enumerate() {
        let prefix = format!("MessageAttributes.entry.{}", n + 1);
        form.append_pair(&format!("{prefix}.Name"), name)
            .append_pair(&format!("{prefix}.Value.DataType"), "String")
            .append_pair(&format!("{prefix}.Value.StringValue"), value);
    }
    form.finish()
}

/// The `SendMessage` JSON for SQS.
pub fn sqs_json(queue_url: &str, message: &Message) -> Vec<u8> {
    let (body, attributes) = attributes(message);
    let mut request = serde_json::json!({
        "QueueUrl": queue_url,
        "MessageBody": body,
    });
    if !attributes.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = attributes
            .into_iter()
            .map(|(name, value)| {
                (
                    name,
                    serde_json::json!({"DataType": "String", "StringValue": value}),
                )
            })
            .collect();
        request["MessageAttributes"] = serde_json::Value::Object(map);
    }
    request.to_string().into_bytes()
}

/// The `<Code>` and `<Message>` of an AWS query-protocol error, or the
/// `__type` and `message` of a JSON one; the raw text when neither parses.
fn aws_error(body: &str) -> String {
    let tag = |name: &str| {
        let start = body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].to_owned())
    };
    if let (Some(code), Some(message)) = (tag("Code"), tag("Message")) {
        return format!("{code}: {message}");
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        let code = value["__type"]
            .as_str()
            .unwrap_or("")
            .rsplit('#')
            .next()
            .unwrap_or("");
        let message = value["message"]
            .as_str()
            .or_else(|| value["Message"].as_str())
            .unwrap_or("");
        if !code.is_empty() || !message.is_empty() {
            return format!("{code}: {message}");
        }
    }
    body.chars().take(300).collect()
}

impl AwsPublisher {
    pub async fn connect(config: &AwsConfig) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        // Go CDK opens AWS topics without a call to the service; the
        // credentials are fetched now so that a chain that gives none (or
        // a role that cannot be assumed) stops the start with its reason.
        if let Some(provider) = &config.credentials {
            let credentials = provider
                .credentials()
                .await
                .map_err(|err| format!("AWS credentials: {err}"))?;
            tracing::info!(
                source = %provider.describe(),
                access_key_id = credentials.access_key_id(),
                "AWS credentials"
            );
        }
        Ok(AwsPublisher {
            config: config.clone(),
            http,
        })
    }

    /// Signs and sends one request; the response body on HTTP 200.
    async fn call(
        &self,
        content_type: &str,
        target: Option<&str>,
        body: Vec<u8>,
    ) -> Result<String, String> {
        let url = self.config.endpoint.as_str();
        let mut headers: Vec<(String, String)> = vec![("content-type".into(), content_type.into())];
        if let Some(target) = target {
            headers.push(("x-amz-target".into(), target.into()));
        }
        if let Some(provider) = &self.config.credentials {
            let identity = provider
                .credentials()
                .await
                .map_err(|err| format!("AWS credentials: {err}"))?
                .identity();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(&self.config.region)
                .name(self.config.target.service())
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|err| format!("cannot sign the AWS request: {err}"))?
                .into();
            let signable = SignableRequest::new(
                "POST",
                url,
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                SignableBody::Bytes(&body),
            )
            .map_err(|err| format!("cannot sign the AWS request: {err}"))?;
            let (instructions, _signature) = sign(signable, &params)
                .map_err(|err| format!("cannot sign the AWS request: {err}"))?
                .into_parts();
            for (name, value) in instructions.headers() {
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
        let mut request = self.http.post(url).body(body);
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let service = self.config.target.service().to_ascii_uppercase();
        let response = request.send().await.map_err(|err| {
            format!(
                "{service} request to {} failed: {}",
                crate::config::redact(url),
                err.without_url()
            )
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|err| format!("{service} response unreadable: {}", err.without_url()))?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(format!(
                "{service} refused the message (HTTP {}): {}",
                status.as_u16(),
                aws_error(&text)
            ))
        }
    }

    pub async fn publish(&self, message: &Message) -> Result<(), String> {
        match &self.config.target {
            AwsTarget::Sns { topic_arn } => {
                let form = sns_form(topic_arn, message);
                self.call(SNS_CONTENT_TYPE, None, form.into_bytes()).await?;
            }
            AwsTarget::Sqs { queue_url } => {
                let body = sqs_json(queue_url, message);
                self.call(SQS_CONTENT_TYPE, Some("AmazonSQS.SendMessage"), body)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values written by hand from Go CDK's rules.
    #[test]
    fn keys_escaped_as_go_cdk() {
        assert_eq!(escape_key("action"), "action");
        assert_eq!(escape_key("object_type"), "object_type");
        assert_eq!(escape_key("a.b-c_d"), "a.b-c_d");
        assert_eq!(escape_key(".a"), "__0x2e__a");
        assert_eq!(escape_key("a..b"), "a.__0x2e__b");
        assert_eq!(escape_key("a b/é"), "a__0x20__b__0x2f____0xe9__");
    }

    #[test]
    fn values_path_escaped_as_go() {
        assert_eq!(path_escape("upload"), "upload");
        assert_eq!(path_escape("a b/c?d;e,f"), "a%20b%2Fc%3Fd%3Be%2Cf");
        assert_eq!(path_escape("$&+:=@-_.~"), "$&+:=@-_.~");
        assert_eq!(path_escape("é"), "%C3%A9");
    }

    #[test]
    fn non_utf8_bodies_go_in_base64() {
        let message = Message {
            body: vec![0xbd, 0xb2],
            metadata: vec![("action", "upload".into())],
            id: "x".into(),
        };
        let (body, attributes) = attributes(&message);
        assert_eq!(body, "vbI=");
        assert_eq!(
            attributes,
            vec![
                ("action".to_owned(), "upload".to_owned()),
                ("base64encoded".to_owned(), "true".to_owned())
            ]
        );
    }

    #[test]
    fn request_bodies() {
        let message = Message {
            body: br#"{"a":1}"#.to_vec(),
            metadata: vec![("action", "log".into()), ("event", "1".into())],
            id: "x".into(),
        };
        assert_eq!(
            sns_form("arn:aws:sns:us-east-1:1:t", &message),
            "Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At\
             &Message=%7B%22a%22%3A1%7D\
             &MessageAttributes.entry.1.Name=action&MessageAttributes.entry.1.Value.DataType=String\
             &MessageAttributes.entry.1.Value.StringValue=log\
             &MessageAttributes.entry.2.Name=event&MessageAttributes.entry.2.Value.DataType=String\
             &MessageAttributes.entry.2.Value.StringValue=1"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&sqs_json("https://sqs.x/1/q", &message)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "QueueUrl": "https://sqs.x/1/q",
                "MessageBody": "{\"a\":1}",
                "MessageAttributes": {
                    "action": {"DataType": "String", "StringValue": "log"},
                    "event": {"DataType": "String", "StringValue": "1"}
                }
            })
        );
    }

    #[test]
    fn aws_errors_are_short() {
        assert_eq!(
            aws_error("<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message></Error></ErrorResponse>"),
            "NotFound: Topic does not exist"
        );
        assert_eq!(
            aws_error(
                r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#
            ),
            "QueueDoesNotExist: The specified queue does not exist."
        );
    }
}
