//! One directory's settings: the raw form (as the flags or one entry of the
//! config file give them), and the checked form the plugin runs with. Every
//! check the Go plugin makes at start is made here, plus the ones it lacks
//! (overlapping group prefixes, URL schemes, StartTLS on `ldaps://`), and
//! each message names the setting the way the user wrote it: the flag and
//! its variable, or `configs[i].field` of the config file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::groups::Prefixes;

/// The placeholder replaced by the escaped username in the search query.
pub const USERNAME_PLACEHOLDER: &str = "%username%";

/// The Go plugin's default query: an enabled-or-not AD user account by its
/// `sAMAccountName`.
pub const DEFAULT_SEARCH_QUERY: &str =
    "(&(objectClass=user)(sAMAccountType=805306368)(sAMAccountName=%username%))";

/// The Go plugin's default group attribute.
pub const DEFAULT_GROUP_ATTRIBUTE: &str = "memberOf";

/// Connections per pool (searches and user binds each have one) by default.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// How often servers that failed are probed again, as in the Go plugin.
pub const DEFAULT_MONITOR_INTERVAL: Duration = Duration::from_secs(120);

/// The Go plugin's dial and per-operation timeout.
pub const LDAP_TIMEOUT: Duration = Duration::from_secs(15);

/// A password: never printed by `Debug` or `Display`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// The settings as given, before any check. Field names are those of the
/// Go plugin's config file; the extensions of this plugin are marked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawSettings {
    pub dial_urls: Vec<String>,
    pub base_dn: String,
    pub bind_dn: String,
    pub password: Secret,
    pub start_tls: i64,
    pub skip_tls_verify: bool,
    pub ca_certificates: Vec<String>,
    pub search_query: String,
    pub group_attributes: Vec<String>,
    pub primary_group_prefix: String,
    pub secondary_group_prefix: String,
    pub membership_group_prefix: String,
    /// Plugin 1.2.0: the one group whose name has this prefix is the role.
    pub role_group_prefix: String,
    pub require_groups: bool,
    pub sftpgo_user_requirements: i64,
    pub base_dir: String,
    pub cache_time: i64,
    /// Extension: the attribute holding the user's SSH public keys.
    pub public_key_attribute: String,
    /// Extension (Active Directory only): also the groups the user is in
    /// through nested groups, found with LDAP_MATCHING_RULE_IN_CHAIN.
    pub nested_groups: bool,
    /// Extension: connections per pool (0 = the default, 8).
    pub pool_size: i64,
    /// Extension: seconds between probes of failed servers (0 = 120).
    pub monitor_interval: i64,
    /// Keys this plugin does not know; reported as warnings, not errors, so
    /// a config written for a newer Go plugin still starts.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// Where the settings came from, to name a setting in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flags,
    File { index: usize },
}

/// One setting, with its three spellings.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub flag: &'static str,
    pub env: &'static str,
    pub json: &'static str,
}

macro_rules! fields {
    ($($name:ident = $flag:literal, $env:literal, $json:literal;)*) => {
        $(pub const $name: Field = Field { flag: $flag, env: $env, json: $json };)*
    };
}

/// The settings, by name.
pub mod field {
    use super::Field;
    fields! {
        URLS = "--ldap-url", "LDAP_URL", "dial_urls";
        BASE_DN = "--ldap-base-dn", "LDAP_BASE_DN", "base_dn";
        BIND_DN = "--ldap-bind-dn", "LDAP_BIND_DN", "bind_dn";
        SEARCH_QUERY = "--ldap-search-query", "LDAP_SEARCH_QUERY", "search_query";
        GROUP_ATTRIBUTES = "--ldap-group-attributes", "LDAP_GROUP_ATTRIBUTES", "group_attributes";
        PRIMARY = "--primary-group-prefix", "PRIMARY_GROUP_PREFIX", "primary_group_prefix";
        SECONDARY = "--secondary-group-prefix", "SECONDARY_GROUP_PREFIX", "secondary_group_prefix";
        MEMBERSHIP = "--membership-group-prefix", "MEMBERSHIP_GROUP_PREFIX", "membership_group_prefix";
        ROLE = "--role-group-prefix", "ROLE_GROUP_PREFIX", "role_group_prefix";
        REQUIRE_GROUPS = "--require-groups", "REQUIRE_GROUPS", "require_groups";
        USER_REQUIREMENTS = "--user-requirements", "USER_REQUIREMENTS", "sftpgo_user_requirements";
        START_TLS = "--starttls", "STARTTLS", "start_tls";
        BASE_DIR = "--users-base-dir", "USERS_BASE_DIR", "base_dir";
        CACHE_TIME = "--cache-time", "CACHE_TIME", "cache_time";
        CA_CERTIFICATES = "--ca-certificates", "CA_CERTIFICATES", "ca_certificates";
        PUBLIC_KEY_ATTRIBUTE = "--ldap-public-key-attribute", "LDAP_PUBLIC_KEY_ATTRIBUTE", "public_key_attribute";
        POOL_SIZE = "--pool-size", "POOL_SIZE", "pool_size";
        NESTED_GROUPS = "--ldap-nested-groups", "LDAP_NESTED_GROUPS", "nested_groups";
        MONITOR_INTERVAL = "--monitor-interval", "MONITOR_INTERVAL", "monitor_interval";
    }
}

/// The prefix of every environment variable of the plugin.
pub const ENV_PREFIX: &str = "SFTPGO_PLUGIN_AUTH_";

impl Origin {
    /// `--ldap-url (SFTPGO_PLUGIN_AUTH_LDAP_URL)` or `configs[2].dial_urls`.
    pub fn name(self, field: Field) -> String {
        match self {
            Origin::Flags => format!("{} ({ENV_PREFIX}{})", field.flag, field.env),
            Origin::File { index } => format!("configs[{index}].{}", field.json),
        }
    }
}

/// The checked settings of one directory.
#[derive(Debug, Clone)]
pub struct Settings {
    pub origin: Origin,
    pub urls: Vec<String>,
    pub base_dn: String,
    pub bind_dn: String,
    /// Empty: an unauthenticated simple bind with the DN alone.
    pub password: Secret,
    pub start_tls: bool,
    pub skip_tls_verify: bool,
    pub ca_certificates: Vec<PathBuf>,
    pub search_query: String,
    pub group_attributes: Vec<String>,
    pub prefixes: Prefixes,
    pub require_groups: bool,
    /// `user_requirements = 1`: only users already defined in SFTPGo.
    pub users_must_exist: bool,
    pub base_dir: Option<PathBuf>,
    /// Zero: no credential cache (also forced when groups are mapped).
    pub cache_time: Duration,
    pub public_key_attribute: Option<String>,
    /// Active Directory only: nested groups via LDAP_MATCHING_RULE_IN_CHAIN.
    pub nested_groups: bool,
    pub pool_size: usize,
    pub monitor_interval: Duration,
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    /// Things worth a warning line at start; none stops the start.
    pub warnings: Vec<String>,
}

impl RawSettings {
    /// Checks the settings; the first problem found is the error.
    pub fn validate(self, origin: Origin) -> Result<Settings, String> {
        use field::*;
        let name = |field: Field| origin.name(field);
        let mut warnings = Vec::new();
        for key in self.unknown.keys() {
            warnings.push(format!(
                "configs[{}]: unknown setting {key:?} is ignored",
                match origin {
                    Origin::File { index } => index,
                    Origin::Flags => 0,
                }
            ));
        }

        let mut urls: Vec<String> = Vec::new();
        for url in self.dial_urls.iter().map(|u| u.trim()) {
            if !url.is_empty() && !urls.iter().any(|known| known == url) {
                urls.push(url.to_owned());
            }
        }
        if urls.is_empty() {
            return Err(format!(
                "{} is required: at least one ldap:// or ldaps:// URL",
                name(URLS)
            ));
        }
        for url in &urls {
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("ldap://") || lower.starts_with("ldaps://")) {
                return Err(format!(
                    "{}: {url:?} is not an ldap:// or ldaps:// URL",
                    name(URLS)
                ));
            }
        }
        if self.base_dn.trim().is_empty() {
            return Err(format!(
                "{} is required: the DN searches start from",
                name(BASE_DN)
            ));
        }
        if self.bind_dn.trim().is_empty() {
            return Err(format!(
                "{} is required: the service account's DN{}",
                name(BIND_DN),
                if origin == Origin::Flags {
                    format!(" ({ENV_PREFIX}LDAP_USERNAME works too)")
                } else {
                    String::new()
                }
            ));
        }
        if self.search_query.trim().is_empty() {
            return Err(format!("{} is required", name(SEARCH_QUERY)));
        }
        if !self.search_query.contains(USERNAME_PLACEHOLDER) {
            return Err(format!(
                "{} must contain the {USERNAME_PLACEHOLDER} placeholder: {:?}",
                name(SEARCH_QUERY),
                self.search_query
            ));
        }
        let base_dir = match self.base_dir.trim() {
            "" => None,
            dir if Path::new(dir).is_absolute() => Some(PathBuf::from(dir)),
            dir => {
                return Err(format!(
                    "{} must be an absolute path: {dir:?}",
                    name(BASE_DIR)
                ))
            }
        };
        let group_attributes: Vec<String> = self
            .group_attributes
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        let prefixes = Prefixes::new(
            &self.primary_group_prefix,
            &self.secondary_group_prefix,
            &self.membership_group_prefix,
            &self.role_group_prefix,
        );
        if self.require_groups {
            if group_attributes.is_empty() && !self.nested_groups {
                return Err(format!(
                    "{} needs {}: the attributes holding the user's groups",
                    name(REQUIRE_GROUPS),
                    name(GROUP_ATTRIBUTES)
                ));
            }
            if !prefixes.maps_groups() {
                return Err(format!(
                    "{} needs at least one group prefix: {}, {} or {}",
                    name(REQUIRE_GROUPS),
                    name(PRIMARY),
                    name(SECONDARY),
                    name(MEMBERSHIP)
                ));
            }
        }
        if self.nested_groups && !prefixes.maps_anything() {
            return Err(format!(
                "{} needs a group prefix ({}, {}, {} or {}): nested groups only feed the mapping",
                name(NESTED_GROUPS),
                name(PRIMARY),
                name(SECONDARY),
                name(MEMBERSHIP),
                name(ROLE)
            ));
        }
        if group_attributes.is_empty() && prefixes.maps_anything() && !self.nested_groups {
            return Err(format!(
                "group prefixes are set but {} is empty: the prefixes would never match",
                name(GROUP_ATTRIBUTES)
            ));
        }
        if let Some((a, b)) = prefixes.overlap() {
            let field = |which: &str| match which {
                "primary" => name(PRIMARY),
                "secondary" => name(SECONDARY),
                "membership" => name(MEMBERSHIP),
                _ => name(ROLE),
            };
            return Err(format!(
                "group prefixes overlap: {} {:?} and {} {:?} (a group named after the longer one \
                 would match both); use prefixes where none starts with another",
                field(a.0),
                a.1,
                field(b.0),
                b.1
            ));
        }
        let start_tls = match self.start_tls {
            0 => false,
            1 => true,
            other => return Err(format!("{} must be 0 or 1, not {other}", name(START_TLS))),
        };
        if start_tls {
            if let Some(url) = urls
                .iter()
                .find(|u| u.to_ascii_lowercase().starts_with("ldaps://"))
            {
                return Err(format!(
                    "{} is 1 but {} has {url:?}: StartTLS runs on ldap:// URLs, ldaps:// is TLS already",
                    name(START_TLS),
                    name(URLS)
                ));
            }
        }
        let users_must_exist = match self.sftpgo_user_requirements {
            0 => false,
            1 => true,
            other => {
                return Err(format!(
                    "{} must be 0 or 1 (users must already exist in SFTPGo), not {other}",
                    name(USER_REQUIREMENTS)
                ))
            }
        };
        if self.cache_time < 0 {
            return Err(format!(
                "{} must be 0 (no cache) or a number of seconds, not {}",
                name(CACHE_TIME),
                self.cache_time
            ));
        }
        let mut cache_time = Duration::from_secs(self.cache_time.unsigned_abs());
        if !cache_time.is_zero()
            && (!group_attributes.is_empty() || self.nested_groups)
            && prefixes.maps_anything()
        {
            warnings.push(format!(
                "{} is ignored: the credential cache is disabled when groups are mapped",
                name(CACHE_TIME)
            ));
            cache_time = Duration::ZERO;
        }
        let mut ca_certificates = Vec::new();
        for ca in self
            .ca_certificates
            .iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
        {
            if !Path::new(ca).is_absolute() {
                return Err(format!(
                    "{}: CA certificate {ca:?} is not an absolute path",
                    name(CA_CERTIFICATES)
                ));
            }
            ca_certificates.push(PathBuf::from(ca));
        }
        let pool_size = match self.pool_size {
            0 => DEFAULT_POOL_SIZE,
            n @ 1..=1024 => n.unsigned_abs() as usize,
            other => {
                return Err(format!(
                    "{} must be between 1 and 1024 (0 = {DEFAULT_POOL_SIZE}), not {other}",
                    name(POOL_SIZE)
                ))
            }
        };
        let monitor_interval = match self.monitor_interval {
            0 => DEFAULT_MONITOR_INTERVAL,
            n if n > 0 => Duration::from_secs(n.unsigned_abs()),
            other => {
                return Err(format!(
                    "{} must be a number of seconds (0 = 120), not {other}",
                    name(MONITOR_INTERVAL)
                ))
            }
        };
        let public_key_attribute = match self.public_key_attribute.trim() {
            "" => None,
            attr => Some(attr.to_owned()),
        };
        Ok(Settings {
            origin,
            urls,
            base_dn: self.base_dn.trim().to_owned(),
            bind_dn: self.bind_dn.trim().to_owned(),
            password: self.password,
            start_tls,
            skip_tls_verify: self.skip_tls_verify,
            ca_certificates,
            search_query: self.search_query,
            group_attributes,
            prefixes,
            require_groups: self.require_groups,
            users_must_exist,
            base_dir,
            cache_time,
            public_key_attribute,
            nested_groups: self.nested_groups,
            pool_size,
            monitor_interval,
            connect_timeout: LDAP_TIMEOUT,
            operation_timeout: LDAP_TIMEOUT,
            warnings,
        })
    }
}

impl Settings {
    /// The attributes the user search asks for: the group attributes, and
    /// the public key attribute when `with_keys`.
    pub fn search_attributes(&self, with_keys: bool) -> Vec<String> {
        let mut attrs = self.group_attributes.clone();
        if with_keys {
            if let Some(attr) = &self.public_key_attribute {
                attrs.push(attr.clone());
            }
        }
        if attrs.is_empty() {
            // "1.1": no attributes (RFC 4511); the DN always comes back.
            attrs.push("1.1".to_owned());
        }
        attrs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawSettings {
        RawSettings {
            dial_urls: vec!["ldap://127.0.0.1:389".into()],
            base_dn: "dc=example,dc=com".into(),
            bind_dn: "cn=admin,dc=example,dc=com".into(),
            search_query: DEFAULT_SEARCH_QUERY.into(),
            group_attributes: vec!["memberOf".into()],
            ..RawSettings::default()
        }
    }

    fn error(raw: RawSettings) -> String {
        raw.validate(Origin::File { index: 1 }).unwrap_err()
    }

    #[test]
    fn good_settings_pass_with_defaults() {
        let settings = raw().validate(Origin::Flags).unwrap();
        assert_eq!(settings.pool_size, DEFAULT_POOL_SIZE);
        assert_eq!(settings.monitor_interval, DEFAULT_MONITOR_INTERVAL);
        assert!(settings.warnings.is_empty());
    }

    #[test]
    fn urls_are_deduplicated_and_checked() {
        let mut r = raw();
        r.dial_urls = vec![
            " ".into(),
            "ldap://a".into(),
            "ldap://a".into(),
            "ldaps://b".into(),
        ];
        assert_eq!(
            r.validate(Origin::Flags).unwrap().urls,
            ["ldap://a", "ldaps://b"]
        );
        let mut r = raw();
        r.dial_urls = vec!["".into()];
        assert!(error(r).starts_with("configs[1].dial_urls is required"));
        let mut r = raw();
        r.dial_urls = vec!["http://a".into()];
        assert!(error(r).contains("not an ldap:// or ldaps:// URL"));
    }

    type Change = Box<dyn Fn(&mut RawSettings)>;

    #[test]
    fn each_rule_names_its_setting() {
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|r| r.base_dn.clear()), "configs[1].base_dn is required"),
            (Box::new(|r| r.bind_dn.clear()), "configs[1].bind_dn is required"),
            (Box::new(|r| r.search_query.clear()), "configs[1].search_query is required"),
            (
                Box::new(|r| r.search_query = "(uid=x)".into()),
                "must contain the %username% placeholder",
            ),
            (Box::new(|r| r.base_dir = "rel/dir".into()), "base_dir must be an absolute path"),
            (
                Box::new(|r| {
                    r.require_groups = true;
                    r.group_attributes.clear();
                }),
                "require_groups needs configs[1].group_attributes",
            ),
            (
                Box::new(|r| r.require_groups = true),
                "require_groups needs at least one group prefix",
            ),
            (
                Box::new(|r| {
                    r.group_attributes.clear();
                    r.primary_group_prefix = "p_".into();
                }),
                "group prefixes are set but configs[1].group_attributes is empty",
            ),
            (
                Box::new(|r| {
                    r.primary_group_prefix = "sftpgo_".into();
                    r.secondary_group_prefix = "SFTPGO_sec".into();
                }),
                "group prefixes overlap: configs[1].primary_group_prefix \"sftpgo_\" and configs[1].secondary_group_prefix \"sftpgo_sec\"",
            ),
            (Box::new(|r| r.start_tls = 2), "start_tls must be 0 or 1"),
            (
                Box::new(|r| {
                    r.start_tls = 1;
                    r.dial_urls = vec!["ldaps://x".into()];
                }),
                "StartTLS runs on ldap:// URLs",
            ),
            (Box::new(|r| r.sftpgo_user_requirements = 3), "sftpgo_user_requirements must be 0 or 1"),
            (Box::new(|r| r.cache_time = -1), "cache_time must be 0"),
            (Box::new(|r| r.ca_certificates = vec!["ca.pem".into()]), "is not an absolute path"),
            (Box::new(|r| r.pool_size = 5000), "pool_size must be between 1 and 1024"),
            (Box::new(|r| r.nested_groups = true), "nested_groups needs a group prefix"),
            (Box::new(|r| r.monitor_interval = -5), "monitor_interval must be a number"),
        ];
        for (change, expected) in cases {
            let mut r = raw();
            change(&mut r);
            let err = error(r);
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn flags_are_named_with_their_variable() {
        let mut r = raw();
        r.base_dn.clear();
        let err = r.validate(Origin::Flags).unwrap_err();
        assert!(
            err.starts_with("--ldap-base-dn (SFTPGO_PLUGIN_AUTH_LDAP_BASE_DN) is required"),
            "{err}"
        );
    }

    #[test]
    fn cache_is_disabled_with_group_mapping() {
        let mut r = raw();
        r.cache_time = 60;
        r.membership_group_prefix = "m_".into();
        let settings = r.validate(Origin::Flags).unwrap();
        assert!(settings.cache_time.is_zero());
        assert_eq!(settings.warnings.len(), 1);
    }

    #[test]
    fn password_is_not_printed() {
        let mut r = raw();
        r.password = Secret("hunter2".into());
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
