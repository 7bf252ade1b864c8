//! The multi-directory config file of `sftpgo-plugin-auth`:
//! `{"cache_size": N, "configs": [ {...}, ... ]}`. Each entry is checked
//! like the flags, but without defaults (the search query and the group
//! attributes must be written out); an error names `configs[i].field`.

use std::path::Path;

use serde::Deserialize;

use crate::settings::{Origin, RawSettings, Settings};

/// The size of the last-good-directory LRU when the file does not say.
pub const DEFAULT_CACHE_SIZE: usize = 100;

/// A loaded, checked config file.
#[derive(Debug)]
pub struct ConfigFile {
    /// Entries of the username → last good directory LRU.
    pub cache_size: usize,
    pub configs: Vec<Settings>,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    cache_size: i64,
    #[serde(default)]
    configs: Vec<RawSettings>,
}

impl ConfigFile {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> Result<ConfigFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read the config file {}: {err}", path.display()))?;
        Self::parse(&text).map_err(|err| format!("config file {}: {err}", path.display()))
    }

    /// Checks the text of a config file.
    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        let raw: RawFile =
            serde_json::from_str(text).map_err(|err| format!("not a valid config file: {err}"))?;
        let cache_size = match raw.cache_size {
            0 => DEFAULT_CACHE_SIZE,
            n if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            other => {
                return Err(format!(
                    "cache_size must be positive (0 = 100), not {other}"
                ))
            }
        };
        if raw.configs.is_empty() {
            return Err("configs is empty: at least one directory is required".into());
        }
        let configs = raw
            .configs
            .into_iter()
            .enumerate()
            .map(|(index, entry)| entry.validate(Origin::File { index }))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ConfigFile {
            cache_size,
            configs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = r#"{"dial_urls": ["ldap://127.0.0.1:1"], "base_dn": "dc=x",
        "bind_dn": "cn=a,dc=x", "search_query": "(uid=%username%)",
        "group_attributes": ["memberOf"], "start_tls": 0, "skip_tls_verify": false}"#;

    #[test]
    fn entries_are_checked_in_order() {
        let file = ConfigFile::parse(&format!(r#"{{"configs": [{ENTRY}, {ENTRY}]}}"#)).unwrap();
        assert_eq!(file.cache_size, DEFAULT_CACHE_SIZE);
        assert_eq!(file.configs.len(), 2);
        assert_eq!(file.configs[1].origin, Origin::File { index: 1 });
    }

    #[test]
    fn no_defaults_inside_entries() {
        let entry = r#"{"dial_urls": ["ldap://a"], "base_dn": "dc=x", "bind_dn": "cn=a"}"#;
        let err = ConfigFile::parse(&format!(r#"{{"configs": [{ENTRY}, {entry}]}}"#)).unwrap_err();
        assert_eq!(err, "configs[1].search_query is required");
    }

    #[test]
    fn file_level_errors() {
        assert!(ConfigFile::parse(r#"{"configs": []}"#)
            .unwrap_err()
            .contains("configs is empty"));
        assert!(ConfigFile::parse("{}")
            .unwrap_err()
            .contains("configs is empty"));
        assert!(ConfigFile::parse("\"text\"")
            .unwrap_err()
            .contains("not a valid config file"));
        let err = ConfigFile::parse(&format!(r#"{{"cache_size": -1, "configs": [{ENTRY}]}}"#));
        assert!(err.unwrap_err().contains("cache_size"));
        let err = ConfigFile::parse(r#"{"configs": [{"start_tls": "yes"}]}"#).unwrap_err();
        assert!(err.contains("not a valid config file"), "{err}");
    }

    #[test]
    fn unknown_keys_are_warnings() {
        let entry = ENTRY.replace("\"start_tls\"", "\"future_option\": 1, \"start_tls\"");
        let file = ConfigFile::parse(&format!(r#"{{"configs": [{entry}]}}"#)).unwrap();
        assert_eq!(
            file.configs[0].warnings.len(),
            1,
            "{:?}",
            file.configs[0].warnings
        );
    }
}
