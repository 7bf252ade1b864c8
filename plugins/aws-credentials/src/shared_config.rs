//! The shared config and credentials files, turned into named profiles as
//! aws-sdk-go-v2 (`config/shared_config.go`) turns them:
//!
//! - the config file is `AWS_CONFIG_FILE`, else `~/.aws/config`; there a
//!   profile is `[profile NAME]` or `[default]` (`[profile default]`
//!   wins over `[default]`), `[sso-session NAME]` and `[services NAME]`
//!   are kept aside, and any other section is ignored;
//! - the credentials file is `AWS_SHARED_CREDENTIALS_FILE`, else
//!   `~/.aws/credentials`; there a profile is `[NAME]`, and a
//!   `[profile NAME]` section is ignored;
//! - a profile in both files is merged: the credentials file's complete
//!   key pair (id and secret, with its session token) replaces the config
//!   file's, and its credential and role settings win;
//! - a file that is missing or cannot be read counts as empty (the SDK
//!   skips it too); why it was skipped is kept for error messages;
//! - exactly one of `aws_access_key_id` and `aws_secret_access_key` in a
//!   profile is an error when that profile is used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::env::Env;
use crate::ini::{self, Section, Value};

/// The keys a profile of the credentials file sets over the same profile
/// of the config file (besides the key pair), as the SDK merges them.
const MERGED_KEYS: &[&str] = &[
    "role_arn",
    "source_profile",
    "credential_source",
    "external_id",
    "mfa_serial",
    "role_session_name",
    "region",
    "credential_process",
    "web_identity_token_file",
    "ec2_metadata_service_endpoint_mode",
    "ec2_metadata_service_endpoint",
    "ec2_metadata_v1_disabled",
    "duration_seconds",
    "sso_session",
    "sso_account_id",
    "sso_region",
    "sso_role_name",
    "sso_start_url",
    "login_session",
];

const KEY_ID: &str = "aws_access_key_id";
const SECRET: &str = "aws_secret_access_key";
const TOKEN: &str = "aws_session_token";

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// No path: `HOME` is unset and the variable too.
    NoPath,
    Read(PathBuf),
    Missing(PathBuf),
    /// It exists but could not be read (the reason, from the OS).
    Unreadable(PathBuf, String),
}

impl FileState {
    fn describe(&self) -> Option<String> {
        match self {
            FileState::NoPath => None,
            FileState::Read(path) => Some(path.display().to_string()),
            FileState::Missing(path) => Some(format!("{} (not found)", path.display())),
            FileState::Unreadable(path, why) => {
                Some(format!("{} (unreadable: {why})", path.display()))
            }
        }
    }
}

/// One profile after both files are merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    values: BTreeMap<String, Value>,
    /// The file where the profile has a key id without a secret, or the
    /// reverse.
    partial_keys: Option<PathBuf>,
    /// The file the key pair comes from.
    keys_file: Option<PathBuf>,
}

impl Profile {
    /// A setting's value, when present and not empty (the SDK treats an
    /// empty value as unset).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(|v| v.text.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The sub-properties of a setting.
    pub fn map(&self, key: &str) -> Option<&BTreeMap<String, String>> {
        self.values.get(key).and_then(|v| v.map.as_ref())
    }

    /// The profile's key pair and session token, when both keys are set.
    pub fn static_keys(&self) -> Option<(&str, &str, Option<&str>)> {
        Some((self.get(KEY_ID)?, self.get(SECRET)?, self.get(TOKEN)))
    }

    /// The file holding the key pair.
    pub fn keys_file(&self) -> Option<&Path> {
        self.keys_file.as_deref()
    }

    /// The file with half a key pair, if any.
    pub fn partial_keys(&self) -> Option<&Path> {
        self.partial_keys.as_deref()
    }

    fn from_section(section: &Section, name: &str, file: &Path) -> Profile {
        let has = |key: &str| section.values.contains_key(key);
        Profile {
            name: name.to_owned(),
            values: section.values.clone(),
            partial_keys: (has(KEY_ID) != has(SECRET)).then(|| file.to_owned()),
            keys_file: (has(KEY_ID) && has(SECRET)).then(|| file.to_owned()),
        }
    }

    /// The credentials file's section over this (config file) profile.
    fn merge(&mut self, section: &Section, file: &Path) {
        let has = |key: &str| section.values.contains_key(key);
        self.partial_keys = (has(KEY_ID) != has(SECRET)).then(|| file.to_owned());
        if has(KEY_ID) && has(SECRET) {
            for key in [KEY_ID, SECRET, TOKEN] {
                if let Some(value) = section.values.get(key) {
                    self.values.insert(key.to_owned(), value.clone());
                }
            }
            self.keys_file = Some(file.to_owned());
        }
        for key in MERGED_KEYS {
            if let Some(value) = section.values.get(*key) {
                self.values.insert((*key).to_owned(), value.clone());
            }
        }
    }
}

/// Both files, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedConfig {
    pub config_file: FileState,
    pub credentials_file: FileState,
    profiles: BTreeMap<String, Profile>,
    sso_sessions: BTreeMap<String, Section>,
    services: BTreeMap<String, Section>,
}

fn read(path: Option<PathBuf>) -> (FileState, Option<ini::Ini>) {
    let Some(path) = path else {
        return (FileState::NoPath, None);
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let parsed = ini::parse(&String::from_utf8_lossy(&bytes));
            (FileState::Read(path), Some(parsed))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => (FileState::Missing(path), None),
        Err(err) => (FileState::Unreadable(path, err.to_string()), None),
    }
}

fn file_path(env: &Env, variable: &str, default_name: &str) -> Option<PathBuf> {
    match env.get(variable) {
        Some(path) => Some(PathBuf::from(path)),
        None => env
            .get("HOME")
            .map(|home| Path::new(home).join(".aws").join(default_name)),
    }
}

impl SharedConfig {
    /// Reads both files named by `env`.
    pub fn load(env: &Env) -> SharedConfig {
        let (config_file, config) = read(file_path(env, "AWS_CONFIG_FILE", "config"));
        let (credentials_file, credentials) =
            read(file_path(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials"));
        let mut shared = SharedConfig {
            config_file,
            credentials_file,
            profiles: BTreeMap::new(),
            sso_sessions: BTreeMap::new(),
            services: BTreeMap::new(),
        };
        if let (Some(ini), FileState::Read(path)) = (config, shared.config_file.clone()) {
            shared.add_config(&ini, &path);
        }
        if let (Some(ini), FileState::Read(path)) = (credentials, shared.credentials_file.clone()) {
            shared.add_credentials(&ini, &path);
        }
        shared
    }

    fn add_config(&mut self, ini: &ini::Ini, path: &Path) {
        // `[default]` first, so that `[profile default]` replaces it.
        for section in &ini.sections {
            if section.name.eq_ignore_ascii_case("default") {
                self.profiles.insert(
                    section.name.clone(),
                    Profile::from_section(section, &section.name, path),
                );
            }
        }
        for section in &ini.sections {
            if let Some(name) = section.name.strip_prefix("profile ") {
                self.profiles
                    .insert(name.to_owned(), Profile::from_section(section, name, path));
            } else if let Some(name) = section.name.strip_prefix("sso-session ") {
                self.sso_sessions.insert(name.to_owned(), section.clone());
            } else if let Some(name) = section.name.strip_prefix("services ") {
                self.services.insert(name.to_owned(), section.clone());
            }
        }
    }

    fn add_credentials(&mut self, ini: &ini::Ini, path: &Path) {
        for section in &ini.sections {
            if section.name.starts_with("profile ") {
                continue;
            }
            match self.profiles.get_mut(&section.name) {
                Some(profile) => profile.merge(section, path),
                None => {
                    self.profiles.insert(
                        section.name.clone(),
                        Profile::from_section(section, &section.name, path),
                    );
                }
            }
        }
    }

    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    pub fn sso_session(&self, name: &str) -> Option<&Section> {
        self.sso_sessions.get(name)
    }

    /// The `[services NAME]` section.
    pub fn services(&self, name: &str) -> Option<&Section> {
        self.services.get(name)
    }

    /// The files, for messages: `F1 and F2 (not found)`.
    pub fn describe_files(&self) -> String {
        let files: Vec<String> = [&self.config_file, &self.credentials_file]
            .iter()
            .filter_map(|f| f.describe())
            .collect();
        if files.is_empty() {
            "any shared config file (HOME, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE are unset)"
                .to_owned()
        } else {
            files.join(" and ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(config: &str, credentials: &str) -> (tempfile::TempDir, Env) {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config");
        let credentials_path = dir.path().join("credentials");
        std::fs::write(&config_path, config).unwrap();
        std::fs::write(&credentials_path, credentials).unwrap();
        let env = Env::from_pairs(&[
            ("AWS_CONFIG_FILE", config_path.to_str().unwrap()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                credentials_path.to_str().unwrap(),
            ),
        ]);
        (dir, env)
    }

    #[test]
    fn prefixes_per_file() {
        let (_dir, env) = files(
            "[default]\nregion = a\n[profile dev]\nregion = b\n[nope]\nregion = c\n\
             [sso-session s]\nsso_region = x\n[services local]\nsqs =\n  endpoint_url = http://h\n",
            "[dev]\naws_access_key_id = K\naws_secret_access_key = S\n\
             [profile ignored]\naws_access_key_id = K\naws_secret_access_key = S\n[other]\nregion = d\n",
        );
        let shared = SharedConfig::load(&env);
        assert_eq!(shared.profile("default").unwrap().get("region"), Some("a"));
        let dev = shared.profile("dev").unwrap();
        assert_eq!(dev.get("region"), Some("b"));
        assert_eq!(dev.static_keys(), Some(("K", "S", None)));
        assert!(dev.keys_file().unwrap().ends_with("credentials"));
        assert!(shared.profile("nope").is_none(), "unprefixed in config");
        assert!(
            shared.profile("ignored").is_none(),
            "prefixed in credentials"
        );
        assert!(shared.profile("profile ignored").is_none());
        assert_eq!(shared.profile("other").unwrap().get("region"), Some("d"));
        assert!(shared.sso_session("s").is_some());
        assert!(shared.services("local").unwrap().map("sqs").is_some());
    }

    #[test]
    fn credentials_file_wins() {
        let (_dir, env) = files(
            "[profile p]\naws_access_key_id = CONFIGKEY\naws_secret_access_key = CONFIGSECRET\n\
             aws_session_token = CONFIGTOKEN\nregion = from-config\nrole_arn = arn:config\n\
             endpoint_url = http://config\n",
            "[p]\naws_access_key_id = CREDKEY\naws_secret_access_key = CREDSECRET\n\
             region = from-credentials\nendpoint_url = http://credentials\n",
        );
        let p = SharedConfig::load(&env).profile("p").cloned().unwrap();
        assert_eq!(
            p.static_keys(),
            Some(("CREDKEY", "CREDSECRET", Some("CONFIGTOKEN")))
        );
        assert_eq!(p.get("region"), Some("from-credentials"));
        assert_eq!(p.get("role_arn"), Some("arn:config"));
        assert_eq!(
            p.get("endpoint_url"),
            Some("http://config"),
            "not a merged key in the SDK"
        );
    }

    #[test]
    fn profile_default_beats_default() {
        let (_dir, env) = files(
            "[profile default]\nregion = prefixed\n[default]\nregion = plain\n",
            "",
        );
        let shared = SharedConfig::load(&env);
        assert_eq!(
            shared.profile("default").unwrap().get("region"),
            Some("prefixed")
        );
    }

    #[test]
    fn half_a_key_pair_is_remembered() {
        let (_dir, env) = files(
            "[profile a]\naws_access_key_id = K\n[profile b]\naws_access_key_id = K\n",
            "[b]\naws_access_key_id = K2\naws_secret_access_key = S2\n",
        );
        let shared = SharedConfig::load(&env);
        let a = shared.profile("a").unwrap();
        assert!(a.partial_keys().unwrap().ends_with("config"));
        assert_eq!(a.static_keys(), None);
        let b = shared.profile("b").unwrap();
        assert_eq!(b.partial_keys(), None, "the credentials file completes it");
        assert_eq!(b.static_keys(), Some(("K2", "S2", None)));
    }

    #[test]
    fn missing_files_and_home() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::from_pairs(&[("HOME", dir.path().to_str().unwrap())]);
        let shared = SharedConfig::load(&env);
        assert_eq!(
            shared.config_file,
            FileState::Missing(dir.path().join(".aws/config"))
        );
        assert!(shared.describe_files().contains("(not found)"));
        let shared = SharedConfig::load(&Env::default());
        assert_eq!(shared.config_file, FileState::NoPath);
        assert!(shared.describe_files().contains("HOME"));
    }

    #[test]
    fn empty_values_are_unset() {
        let (_dir, env) = files("[profile p]\nregion =\n", "");
        assert_eq!(
            SharedConfig::load(&env).profile("p").unwrap().get("region"),
            None
        );
    }
}
