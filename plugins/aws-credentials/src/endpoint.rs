//! Which URL a service is called at, as aws-sdk-go-v2 resolves
//! "configured endpoints" (`AWS_ENDPOINT_URL*`, the profile's
//! `endpoint_url` and `services` section), and the regional default
//! otherwise. In the SDK's order, for a service id such as `STS`:
//!
//! 1. `AWS_ENDPOINT_URL_<SERVICE>`;
//! 2. `AWS_ENDPOINT_URL`;
//! 3. `endpoint_url` under the service's key in the profile's
//!    `[services NAME]` section;
//! 4. the profile's `endpoint_url`;
//!
//! none of them when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` (else the
//! profile's `ignore_configured_endpoint_urls`) is `true`. The default is
//! `https://SERVICE.REGION.amazonaws.com/` (`.amazonaws.com.cn` in the
//! China regions).

use crate::env::{service_endpoint_variable, Env};
use crate::shared_config::{Profile, SharedConfig};

/// The configured endpoint of `service_id`, if any.
pub fn configured(
    env: &Env,
    shared: &SharedConfig,
    profile: Option<&Profile>,
    service_id: &str,
) -> Option<String> {
    let ignore = env
        .flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .or_else(|| {
            profile
                .and_then(|p| p.get("ignore_configured_endpoint_urls"))
                .map(|v| v.eq_ignore_ascii_case("true"))
        })
        .unwrap_or(false);
    if ignore {
        return None;
    }
    if let Some(url) = env.get(&service_endpoint_variable(service_id)) {
        return Some(url.to_owned());
    }
    if let Some(url) = env.get("AWS_ENDPOINT_URL") {
        return Some(url.to_owned());
    }
    let profile = profile?;
    let key = service_id.to_ascii_lowercase().replace(' ', "_");
    let from_services = profile
        .get("services")
        .and_then(|name| shared.services(name))
        .and_then(|section| section.map(&key))
        .and_then(|values| values.get("endpoint_url"))
        .filter(|url| !url.is_empty());
    if let Some(url) = from_services {
        return Some(url.clone());
    }
    profile.get("endpoint_url").map(str::to_owned)
}

/// The service's regional endpoint (`service` as in its host name, e.g.
/// `sts`, `sqs`).
pub fn default_url(service: &str, region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{service}.{region}.{domain}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(config: &str) -> (tempfile::TempDir, Env, SharedConfig) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, config).unwrap();
        let env = Env::from_pairs(&[("AWS_CONFIG_FILE", path.to_str().unwrap())]);
        let shared = SharedConfig::load(&env);
        (dir, env, shared)
    }

    #[test]
    fn precedence() {
        let (_dir, _, files) = shared(
            "[profile p]\nendpoint_url = http://profile\nservices = local\n\
             [services local]\nsts =\n  endpoint_url = http://services-sts\n",
        );
        let p = files.profile("p");
        let none = Env::default();
        assert_eq!(
            configured(&none, &files, p, "STS").as_deref(),
            Some("http://services-sts")
        );
        assert_eq!(
            configured(&none, &files, p, "SQS").as_deref(),
            Some("http://profile")
        );
        let global = Env::from_pairs(&[("AWS_ENDPOINT_URL", "http://global")]);
        assert_eq!(
            configured(&global, &files, p, "STS").as_deref(),
            Some("http://global")
        );
        let both = Env::from_pairs(&[
            ("AWS_ENDPOINT_URL", "http://global"),
            ("AWS_ENDPOINT_URL_STS", "http://sts"),
        ]);
        assert_eq!(
            configured(&both, &files, p, "STS").as_deref(),
            Some("http://sts")
        );
        let ignored = Env::from_pairs(&[
            ("AWS_ENDPOINT_URL_STS", "http://sts"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        assert_eq!(configured(&ignored, &files, p, "STS"), None);
        assert_eq!(configured(&none, &files, None, "STS"), None);
    }

    #[test]
    fn profile_may_ignore_configured_endpoints() {
        let (_dir, _, files) = shared(
            "[profile p]\nendpoint_url = http://profile\nignore_configured_endpoint_urls = true\n",
        );
        let env = Env::from_pairs(&[("AWS_ENDPOINT_URL", "http://global")]);
        assert_eq!(configured(&env, &files, files.profile("p"), "KMS"), None);
        let env = Env::from_pairs(&[
            ("AWS_ENDPOINT_URL", "http://global"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false"),
        ]);
        assert_eq!(
            configured(&env, &files, files.profile("p"), "KMS").as_deref(),
            Some("http://global"),
            "the variable wins over the profile"
        );
    }

    #[test]
    fn default_urls() {
        assert_eq!(
            default_url("sts", "eu-west-1"),
            "https://sts.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            default_url("sts", "cn-north-1"),
            "https://sts.cn-north-1.amazonaws.com.cn/"
        );
    }
}
