//! The secrets URL (`kms.secrets.url` in SFTPGo, the `url` of every
//! request) parsed into the key it names, as Go CDK v0.46 reads it:
//!
//! - `hashivault://KEY[?engine=ENGINE]`: the transit key, `engine` defaults
//!   to `transit`; any other parameter is an error.
//! - `awskms://KEYID`, `awskms://alias/NAME`, `awskms:///arn:aws:kms:...`:
//!   host and path joined, the leading `/` trimmed; `region`, `endpoint`,
//!   `profile`, `role` (an IAM role ARN to assume) and `context_<k>=<v>`
//!   (the encryption context). The AWS SDK options this build does not
//!   implement (`fips`, `dualstack`, ...) are refused by name.
//! - `gcpkms://`, `azurekeyvault://`, `ocikeyvault://`: refused, "not
//!   supported by this build".

use std::collections::BTreeMap;

/// The schemes this build serves.
pub const SUPPORTED: &str = "hashivault://, awskms://";

/// A Vault/OpenBao transit key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VaultKey {
    /// The transit mount, `transit` unless `engine=` says otherwise.
    pub engine: String,
    pub key: String,
}

/// An AWS KMS key and the options of its URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AwsKey {
    /// Key id, `alias/NAME`, or an ARN.
    pub key_id: String,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    /// Go CDK's `profile`: the shared config profile.
    pub profile: Option<String>,
    /// Go CDK's `role`: an IAM role ARN assumed with the chain's credentials.
    pub role: Option<String>,
    pub context: BTreeMap<String, String>,
}

/// The provider and key a secrets URL names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Vault(VaultKey),
    Aws(AwsKey),
}

impl Target {
    /// `hashivault` or `awskms`, for messages.
    pub fn provider(&self) -> &'static str {
        match self {
            Target::Vault(_) => "hashivault",
            Target::Aws(_) => "awskms",
        }
    }
}

/// Parses a secrets URL; the error is a sentence naming the problem.
pub fn parse(url: &str) -> Result<Target, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "the secrets URL {url:?} has no scheme (supported: {SUPPORTED})"
        ));
    };
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    match scheme {
        "hashivault" => vault(location, &params).map(Target::Vault),
        "awskms" => aws(location, &params).map(Target::Aws),
        "gcpkms" | "azurekeyvault" | "ocikeyvault" => Err(format!(
            "{scheme}:// is not supported by this build of plexus-kms (supported: {SUPPORTED})"
        )),
        other => Err(format!(
            "unknown secrets URL scheme {other:?} (supported: {SUPPORTED})"
        )),
    }
}

/// host + path as Go's `path.Join` cleans them, without leading or trailing `/`.
fn key_path(location: &str, scheme: &str) -> Result<String, String> {
    let segments: Vec<&str> = location.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(format!(
            "{scheme}: the key {location:?} has a '.' or '..' segment"
        ));
    }
    if segments.is_empty() {
        return Err(format!("{scheme}: the secrets URL names no key"));
    }
    Ok(segments.join("/"))
}

fn vault(location: &str, params: &[(String, String)]) -> Result<VaultKey, String> {
    let key = key_path(location, "hashivault")?;
    let mut engine = "transit".to_owned();
    for (name, value) in params {
        match name.as_str() {
            "engine" => {
                // An empty engine is the default, as in Go CDK.
                let value = value.trim_matches('/');
                engine = if value.is_empty() { "transit" } else { value }.to_owned();
            }
            other => {
                return Err(format!(
                    "hashivault: invalid query parameter {other:?} (only engine)"
                ))
            }
        }
    }
    if engine.is_empty()
        || engine
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!("hashivault: invalid engine {engine:?}"));
    }
    Ok(VaultKey { engine, key })
}

fn aws(location: &str, params: &[(String, String)]) -> Result<AwsKey, String> {
    let key_id = key_path(location, "awskms")?;
    let mut key = AwsKey {
        key_id,
        region: None,
        endpoint: None,
        profile: None,
        role: None,
        context: BTreeMap::new(),
    };
    for (name, value) in params {
        if let Some(context_key) = name.strip_prefix("context_") {
            if key
                .context
                .insert(context_key.to_owned(), value.clone())
                .is_some()
            {
                return Err(format!(
                    "awskms: EncryptionContext URL parameters {name:?} must have exactly 1 value"
                ));
            }
            continue;
        }
        match name.as_str() {
            "region" => key.region = Some(value.clone()).filter(|v| !v.is_empty()),
            "endpoint" => key.endpoint = Some(value.clone()).filter(|v| !v.is_empty()),
            "profile" => key.profile = Some(value.clone()).filter(|v| !v.is_empty()),
            "role" => {
                if !value.starts_with("arn:") {
                    return Err(format!(
                        "awskms: invalid value for role: must be a valid ARN (starts with 'arn:'): {value}"
                    ));
                }
                key.role = Some(value.clone());
            }
            "awssdk" => {}
            "fips"
            | "dualstack"
            | "anonymous"
            | "hostname_immutable"
            | "rate_limiter_capacity"
            | "request_checksum_calculation"
            | "response_checksum_validation" => {
                return Err(format!(
                "awskms: the URL parameter {name:?} is not supported by this build of plexus-kms \
                     (supported: region, endpoint, profile, role, context_*)"
            ))
            }
            other => return Err(format!("awskms: unknown query parameter {other:?}")),
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault_key(url: &str) -> VaultKey {
        match parse(url).unwrap() {
            Target::Vault(key) => key,
            other => panic!("{other:?}"),
        }
    }

    fn aws_key(url: &str) -> AwsKey {
        match parse(url).unwrap() {
            Target::Aws(key) => key,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hashivault_urls() {
        assert_eq!(
            vault_key("hashivault://my-key"),
            VaultKey {
                engine: "transit".into(),
                key: "my-key".into()
            }
        );
        assert_eq!(vault_key("hashivault://MyKey").key, "MyKey", "case kept");
        assert_eq!(vault_key("hashivault:///my-key").key, "my-key");
        assert_eq!(
            vault_key("hashivault://my-key?engine=kms-transit").engine,
            "kms-transit"
        );
        assert!(parse("hashivault://my-key?region=x")
            .unwrap_err()
            .contains("invalid query parameter"));
        assert!(parse("hashivault://").unwrap_err().contains("names no key"));
        assert!(parse("hashivault://../sys/seal").is_err());
        assert!(parse("hashivault://k?engine=..").is_err());
        assert_eq!(vault_key("hashivault://k?engine=").engine, "transit");
    }

    #[test]
    fn awskms_urls() {
        let key = aws_key("awskms://1234abcd-12ab-34cd-56ef-1234567890ab?region=us-east-1");
        assert_eq!(key.key_id, "1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(key.region.as_deref(), Some("us-east-1"));
        assert_eq!(aws_key("awskms://alias/my-Key").key_id, "alias/my-Key");
        assert_eq!(
            aws_key("awskms:///arn:aws:kms:us-east-1:123456789012:key/abc").key_id,
            "arn:aws:kms:us-east-1:123456789012:key/abc"
        );
        let key = aws_key("awskms://alias/k?context_user=alice&context_node=n%201&endpoint=http://127.0.0.1:5000&awssdk=v2");
        assert_eq!(key.context.get("user").map(String::as_str), Some("alice"));
        assert_eq!(key.context.get("node").map(String::as_str), Some("n 1"));
        assert_eq!(key.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert!(parse("awskms://alias/k?context_a=1&context_a=2").is_err());
        let key = aws_key("awskms://alias/k?profile=dev&role=arn:aws:iam::1:role/r");
        assert_eq!(key.profile.as_deref(), Some("dev"));
        assert_eq!(key.role.as_deref(), Some("arn:aws:iam::1:role/r"));
        assert!(parse("awskms://alias/k?role=r")
            .unwrap_err()
            .contains("must be a valid ARN"));
        assert!(parse("awskms://alias/k?fips=true")
            .unwrap_err()
            .contains("not supported by this build"));
        assert!(parse("awskms://alias/k?bogus=1")
            .unwrap_err()
            .contains("unknown query parameter"));
    }

    #[test]
    fn unsupported_schemes() {
        for url in [
            "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
            "azurekeyvault://v.vault.azure.net/keys/k",
            "ocikeyvault://ocid1.key.oc1..x",
        ] {
            let err = parse(url).unwrap_err();
            assert!(err.contains("not supported by this build"), "{err}");
        }
        assert!(parse("arn:aws:kms:us-east-1:1:key/x")
            .unwrap_err()
            .contains("no scheme"));
        assert!(parse("base64key://abc")
            .unwrap_err()
            .contains("unknown secrets URL scheme"));
    }
}
