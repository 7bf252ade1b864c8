//! The environment variables the chain reads, captured once. The plugins
//! look variables up through a function (the process environment, or a
//! map in tests); the chain needs them again later (when temporary
//! credentials are refreshed, or when a KMS URL names a new profile), so
//! the ones it knows are copied here at start. `Debug` lists names only:
//! some values are secrets.

use std::collections::BTreeMap;

/// Every variable the chain reads, besides `AWS_ENDPOINT_URL_<SERVICE>`.
pub const VARIABLES: &[&str] = &[
    "HOME",
    "AWS_ACCESS_KEY_ID",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "AWS_EC2_METADATA_V1_DISABLED",
    "AWS_ENDPOINT_URL",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
];

/// The chain's variables, as they were when captured. Empty values count
/// as unset, as in the SDK.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

/// `AWS_ENDPOINT_URL_<SERVICE>` for an SDK service id (`STS`, `SQS`,
/// `Secrets Manager` → `AWS_ENDPOINT_URL_SECRETS_MANAGER`).
pub fn service_endpoint_variable(service_id: &str) -> String {
    format!(
        "AWS_ENDPOINT_URL_{}",
        service_id.to_ascii_uppercase().replace(' ', "_")
    )
}

impl Env {
    /// Copies [`VARIABLES`], and the endpoint variables of STS and of
    /// `services` (SDK service ids such as `SQS` or `KMS`), from `lookup`.
    pub fn capture(lookup: &dyn Fn(&str) -> Option<String>, services: &[&str]) -> Env {
        let mut names: Vec<String> = VARIABLES.iter().map(|n| (*n).to_owned()).collect();
        names.push(service_endpoint_variable("STS"));
        names.extend(services.iter().map(|s| service_endpoint_variable(s)));
        let vars = names
            .into_iter()
            .filter_map(|name| {
                let value = lookup(&name).filter(|v| !v.is_empty())?;
                Some((name, value))
            })
            .collect();
        Env { vars }
    }

    /// An environment of these pairs only (tests, tools).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env {
        Env {
            vars: pairs
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// The variable's value, when set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The first of `names` that is set, with its name.
    pub fn first<'a>(&'a self, names: &[&'static str]) -> Option<(&'static str, &'a str)> {
        names
            .iter()
            .find_map(|name| self.get(name).map(|value| (*name, value)))
    }

    /// A boolean the SDK reads as `true` / `false` in any case; `None`
    /// when unset or anything else.
    pub fn flag(&self, name: &str) -> Option<bool> {
        let value = self.get(name)?;
        if value.eq_ignore_ascii_case("true") {
            Some(true)
        } else if value.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    }
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("set", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_known_names_only_and_hides_values() {
        let lookup = |name: &str| match name {
            "AWS_SECRET_ACCESS_KEY" => Some("s3cret".to_owned()),
            "AWS_REGION" => Some(String::new()),
            "AWS_ENDPOINT_URL_SQS" => Some("http://127.0.0.1:1".to_owned()),
            "AWS_ENDPOINT_URL_STS" => Some("http://127.0.0.1:2".to_owned()),
            "UNRELATED" => Some("x".to_owned()),
            _ => None,
        };
        let env = Env::capture(&lookup, &["SQS"]);
        assert_eq!(env.get("AWS_SECRET_ACCESS_KEY"), Some("s3cret"));
        assert_eq!(env.get("AWS_REGION"), None, "empty is unset");
        assert_eq!(env.get("AWS_ENDPOINT_URL_SQS"), Some("http://127.0.0.1:1"));
        assert_eq!(env.get("AWS_ENDPOINT_URL_STS"), Some("http://127.0.0.1:2"));
        assert_eq!(env.get("UNRELATED"), None);
        assert!(!format!("{env:?}").contains("s3cret"));
        assert_eq!(
            service_endpoint_variable("Secrets Manager"),
            "AWS_ENDPOINT_URL_SECRETS_MANAGER"
        );
    }

    #[test]
    fn flags_read_as_the_sdk_reads_them() {
        let env = Env::from_pairs(&[("A", "TRUE"), ("B", "false"), ("C", "1")]);
        assert_eq!(env.flag("A"), Some(true));
        assert_eq!(env.flag("B"), Some(false));
        assert_eq!(env.flag("C"), None);
        assert_eq!(env.flag("D"), None);
    }
}
