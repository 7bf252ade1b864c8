//! The command line and environment of `sftpgo-plugin-auth`: `serve` with
//! the same flags, each also read from `SFTPGO_PLUGIN_AUTH_*`, the Go
//! plugin's defaults (the AD search query, `memberOf`), and the
//! `--config-file` that, when set, replaces every other flag. The flags
//! this plugin adds are marked "(extension)".

use std::path::PathBuf;

use clap::Parser;

use crate::settings::{
    RawSettings, Secret, DEFAULT_GROUP_ATTRIBUTE, DEFAULT_SEARCH_QUERY, ENV_PREFIX,
};

/// The plugin's command line.
#[derive(Debug, Parser)]
#[command(
    name = "plexus-auth-ldap",
    version,
    about = "An SFTPGo/Plexus auth plugin: users from LDAP or Active Directory",
    after_help = "In SFTPGo's plugins config (scope 5: password and keyboard-interactive):\n  \
        {\"type\": \"auth\", \"cmd\": \"/usr/local/bin/plexus-auth-ldap\",\n   \
        \"args\": [\"serve\", \"--ldap-url\", \"ldaps://dc1.example.com\",\n            \
        \"--ldap-base-dn\", \"dc=example,dc=com\",\n            \
        \"--ldap-bind-dn\", \"cn=sftpgo,ou=services,dc=example,dc=com\"],\n   \
        \"env_vars\": [\"SFTPGO_PLUGIN_AUTH_LDAP_PASSWORD\"],\n   \
        \"auto_mtls\": true, \"auth_options\": {\"scope\": 5}}"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands: only `serve`, as in the Go plugin.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Launch the plugin; it must be started by SFTPGo or Plexus.
    Serve(Box<ServeArgs>),
}

/// `serve`'s flags.
#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct ServeArgs {
    /// LDAP URL, e.g. ldap://192.168.1.5:389 or ldaps://192.168.1.5:636; several (repeated or comma separated) for load balancing and high availability.
    #[arg(long, env = "SFTPGO_PLUGIN_AUTH_LDAP_URL", value_delimiter = ',')]
    pub ldap_url: Vec<String>,
    /// The base DN searches start from, e.g. dc=mylab,dc=local.
    #[arg(long, env = "SFTPGO_PLUGIN_AUTH_LDAP_BASE_DN", default_value = "")]
    pub ldap_base_dn: String,
    /// The service account's DN, used for searches (env: SFTPGO_PLUGIN_AUTH_LDAP_USERNAME or SFTPGO_PLUGIN_AUTH_LDAP_BIND_DN).
    #[arg(long)]
    pub ldap_bind_dn: Option<String>,
    /// The service account's password; empty: an unauthenticated bind with the DN alone.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_AUTH_LDAP_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    pub ldap_password: String,
    /// The query finding the user; %username% is replaced by the escaped username.
    #[arg(long, env = "SFTPGO_PLUGIN_AUTH_LDAP_SEARCH_QUERY", default_value = DEFAULT_SEARCH_QUERY)]
    pub ldap_search_query: String,
    /// The attributes holding the DNs of the user's groups.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_AUTH_LDAP_GROUP_ATTRIBUTES",
        value_delimiter = ',',
        default_value = DEFAULT_GROUP_ATTRIBUTE
    )]
    pub ldap_group_attributes: Vec<String>,
    /// Groups whose name starts with this map to the SFTPGo primary group.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_AUTH_PRIMARY_GROUP_PREFIX",
        default_value = ""
    )]
    pub primary_group_prefix: String,
    /// Groups whose name starts with this map to SFTPGo secondary groups.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_AUTH_SECONDARY_GROUP_PREFIX",
        default_value = ""
    )]
    pub secondary_group_prefix: String,
    /// Groups whose name starts with this map to SFTPGo membership groups.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_AUTH_MEMBERSHIP_GROUP_PREFIX",
        default_value = ""
    )]
    pub membership_group_prefix: String,
    /// The one group whose name starts with this is the user's SFTPGo role (more than one refuses the login).
    #[arg(long, env = "SFTPGO_PLUGIN_AUTH_ROLE_GROUP_PREFIX", default_value = "")]
    pub role_group_prefix: String,
    /// Refuse users that map to no SFTPGo group.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_AUTH_REQUIRE_GROUPS",
        value_parser = parse_go_bool,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false"
    )]
    pub require_groups: bool,
    /// 1: users must already be defined in SFTPGo.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_AUTH_USER_REQUIREMENTS",
        default_value = "0"
    )]
    pub user_requirements: i64,
    /// 1: StartTLS after connecting to an ldap:// URL.
    #[arg(long, env = "SFTPGO_PLUGIN_AUTH_STARTTLS", default_value = "0")]
    pub starttls: i64,
    /// Home directory base for new users (absolute): base/username.
    #[arg(long, env = "SFTPGO_PLUGIN_AUTH_USERS_BASE_DIR", default_value = "")]
    pub users_base_dir: String,
    /// Seconds a successful password is remembered (0: no cache; not with group mapping).
    #[arg(long, env = "SFTPGO_PLUGIN_AUTH_CACHE_TIME", default_value = "0")]
    pub cache_time: i64,
    /// 1: accept any server certificate (testing only).
    #[arg(long, env = "SFTPGO_PLUGIN_AUTH_SKIP_TLS_VERIFY", default_value = "0")]
    pub skip_tls_verify: i64,
    /// Absolute paths of extra CA certificates (PEM) to trust.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_AUTH_CA_CERTIFICATES",
        value_delimiter = ','
    )]
    pub ca_certificates: Vec<String>,
    /// (extension) The attribute holding the user's SSH public keys, e.g. sshPublicKey.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_AUTH_LDAP_PUBLIC_KEY_ATTRIBUTE",
        default_value = ""
    )]
    pub ldap_public_key_attribute: String,
    /// (extension, Active Directory only) Also map the groups the user is in through nested groups (LDAP_MATCHING_RULE_IN_CHAIN).
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_AUTH_LDAP_NESTED_GROUPS",
        value_parser = parse_go_bool,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false"
    )]
    pub ldap_nested_groups: bool,
    /// (extension) Connections per pool (searches and user binds each have one); 0 = 8.
    #[arg(long, env = "SFTPGO_PLUGIN_AUTH_POOL_SIZE", default_value = "0")]
    pub pool_size: i64,
    /// (extension) Seconds between probes of servers that failed; 0 = 120.
    #[arg(long, env = "SFTPGO_PLUGIN_AUTH_MONITOR_INTERVAL", default_value = "0")]
    pub monitor_interval: i64,
    /// A JSON file with several directories; when set, every other flag is ignored.
    #[arg(long, env = "SFTPGO_PLUGIN_AUTH_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
}

/// What to start from.
#[derive(Debug)]
pub enum Source {
    Flags(Box<RawSettings>),
    ConfigFile(PathBuf),
}

impl ServeArgs {
    /// The config file when set (the other flags are then ignored, as in
    /// the Go plugin), else the flags as raw settings.
    pub fn source(self) -> Result<Source, String> {
        self.source_with_env(|name| std::env::var(name).ok())
    }

    /// [`ServeArgs::source`] with the environment given, for tests.
    pub fn source_with_env(self, env: impl Fn(&str) -> Option<String>) -> Result<Source, String> {
        if let Some(path) = self.config_file.filter(|p| !p.as_os_str().is_empty()) {
            return Ok(Source::ConfigFile(path));
        }
        // urfave/cli reads the first variable of the list that is set.
        let bind_dn = self
            .ldap_bind_dn
            .or_else(|| env(&format!("{ENV_PREFIX}LDAP_USERNAME")))
            .or_else(|| env(&format!("{ENV_PREFIX}LDAP_BIND_DN")))
            .unwrap_or_default();
        let skip_tls_verify = match self.skip_tls_verify {
            0 => false,
            1 => true,
            other => {
                return Err(format!(
                    "--skip-tls-verify ({ENV_PREFIX}SKIP_TLS_VERIFY) must be 0 or 1, not {other}"
                ))
            }
        };
        Ok(Source::Flags(Box::new(RawSettings {
            dial_urls: self.ldap_url,
            base_dn: self.ldap_base_dn,
            bind_dn,
            password: Secret(self.ldap_password),
            start_tls: self.starttls,
            skip_tls_verify,
            ca_certificates: self.ca_certificates,
            search_query: self.ldap_search_query,
            group_attributes: self.ldap_group_attributes,
            primary_group_prefix: self.primary_group_prefix,
            secondary_group_prefix: self.secondary_group_prefix,
            membership_group_prefix: self.membership_group_prefix,
            role_group_prefix: self.role_group_prefix,
            require_groups: self.require_groups,
            sftpgo_user_requirements: self.user_requirements,
            base_dir: self.users_base_dir,
            cache_time: self.cache_time,
            public_key_attribute: self.ldap_public_key_attribute,
            nested_groups: self.ldap_nested_groups,
            pool_size: self.pool_size,
            monitor_interval: self.monitor_interval,
            unknown: Default::default(),
        })))
    }
}

/// A boolean as Go's `strconv.ParseBool` reads it (urfave/cli's bool flags
/// and their environment variables).
pub fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!(
            "{other:?} is not a boolean (1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeArgs, String> {
        let mut argv = vec!["plexus-auth-ldap", "serve"];
        argv.extend_from_slice(args);
        let Command::Serve(args) = Cli::try_parse_from(argv)
            .map_err(|err| err.to_string())?
            .command;
        Ok(*args)
    }

    fn flags(args: &[&str], env: &[(&str, &str)]) -> RawSettings {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        match parse(args)
            .unwrap()
            .source_with_env(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap()
        {
            Source::Flags(raw) => *raw,
            Source::ConfigFile(path) => panic!("config file {path:?}"),
        }
    }

    #[test]
    fn defaults_are_the_go_plugins() {
        let raw = flags(&[], &[]);
        assert_eq!(raw.search_query, DEFAULT_SEARCH_QUERY);
        assert_eq!(raw.group_attributes, ["memberOf"]);
        assert!(!raw.require_groups);
    }

    #[test]
    fn lists_repeat_or_split_on_commas() {
        let raw = flags(
            &[
                "--ldap-url",
                "ldap://a,ldap://b",
                "--ldap-url=ldap://c",
                "--require-groups",
            ],
            &[],
        );
        assert_eq!(raw.dial_urls, ["ldap://a", "ldap://b", "ldap://c"]);
        assert!(raw.require_groups);
        let raw = flags(&["--require-groups=false"], &[]);
        assert!(!raw.require_groups);
    }

    #[test]
    fn bind_dn_from_either_variable() {
        let username = format!("{ENV_PREFIX}LDAP_USERNAME");
        let bind = format!("{ENV_PREFIX}LDAP_BIND_DN");
        assert_eq!(flags(&[], &[(&bind, "cn=b")]).bind_dn, "cn=b");
        assert_eq!(
            flags(&[], &[(&username, "cn=u"), (&bind, "cn=b")]).bind_dn,
            "cn=u"
        );
        assert_eq!(
            flags(&["--ldap-bind-dn", "cn=f"], &[(&username, "cn=u")]).bind_dn,
            "cn=f"
        );
    }

    #[test]
    fn config_file_wins() {
        let source = parse(&["--config-file", "/etc/x.json", "--ldap-url", "ldap://a"])
            .unwrap()
            .source_with_env(|_| None)
            .unwrap();
        assert!(
            matches!(source, Source::ConfigFile(p) if p == std::path::Path::new("/etc/x.json"))
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        let err = parse(&["--cache-time", "soon"]).unwrap_err();
        assert!(err.contains("--cache-time"), "{err}");
        let err = parse(&["--skip-tls-verify", "2"])
            .unwrap()
            .source_with_env(|_| None)
            .unwrap_err();
        assert!(err.contains("--skip-tls-verify"), "{err}");
    }
}
