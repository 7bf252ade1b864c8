//! Plugin configuration as SFTPGo writes it.
//!
//! A config file holds SFTPGo's `plugins` array, either bare or as the
//! `plugins` key of a larger object (a whole sftpgo.json, .yaml or .toml
//! works: other sections are ignored), optionally with Plexus's own
//! `engine` section next to it. It is read as SFTPGo's viper reads it:
//! keys case-insensitive, unknown keys warnings, values decoded weakly
//! ([`weak`]). SFTPGo's `SFTPGO_PLUGINS__<i>__…` and Plexus's `PLEXUS_…`
//! environment variables override the file. Parse errors name the path;
//! validation reports every problem, each with its path
//! (`plugins[2].sha256sum: ...`), and every warning (an unknown key, a
//! filter name SFTPGo never sends) the same way.

mod engine_section;
mod env;
pub mod format;
mod plugin;
pub mod sources;
pub mod vocabulary;
pub mod weak;

pub use engine_section::{EngineSection, ServeSettings};
pub use env::apply_plugin_overrides;
pub use plugin::{plugin_labels, AuthOptions, KmsOptions, NotifierOptions, PluginConfig};

use std::path::Path;

/// The `plugins` list of a config file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginsFile {
    pub plugins: Vec<PluginConfig>,
    /// Plexus's `engine` section (empty when the file has none).
    pub engine: EngineSection,
    /// What is suspicious but allowed, each with its path: unknown keys,
    /// filter names SFTPGo never sends.
    pub warnings: Vec<String>,
}

/// Why a config could not be used; every message names where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config {path} is invalid:\n  {}", problems.join("\n  "))]
    Invalid {
        path: String,
        problems: Vec<String>,
        /// The warnings found as well (see [`PluginsFile::warnings`]).
        warnings: Vec<String>,
    },
}

impl PluginsFile {
    /// Reads a config file, applies the process environment's overrides
    /// and validates the result.
    pub fn load(path: &Path) -> Result<PluginsFile, ConfigError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: display.clone(),
            source,
        })?;
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::parse_with_env(&text, &display, &env)
    }

    /// Parses and validates config text without environment overrides;
    /// `origin` names it in errors, and its extension gives the format
    /// (see [`format::Format::of`]).
    pub fn parse(text: &str, origin: &str) -> Result<PluginsFile, ConfigError> {
        Self::parse_with_env(text, origin, &[])
    }

    /// Parses config text, applies the overrides in `env`, validates.
    pub fn parse_with_env(
        text: &str,
        origin: &str,
        env: &[(String, String)],
    ) -> Result<PluginsFile, ConfigError> {
        let parse_err = |message: String| ConfigError::Parse {
            path: origin.to_owned(),
            message,
        };
        let value = format::Format::of(origin).read(text).map_err(parse_err)?;
        let mut engine_value = None;
        let (mut list, base) = match value {
            serde_json::Value::Array(_) => (value, "plugins".to_owned()),
            serde_json::Value::Object(mut object) => match take_key(&mut object, "plugins") {
                Some(list @ serde_json::Value::Array(_)) => {
                    engine_value = take_key(&mut object, "engine");
                    (list, "plugins".to_owned())
                }
                Some(_) => return Err(parse_err("plugins: expected an array of plugin objects".into())),
                None => return Err(parse_err("no \"plugins\" key: expected an array of plugins or an object with a \"plugins\" array".into())),
            },
            _ => {
                return Err(parse_err(
                    "expected an array of plugins or an object with a \"plugins\" array".into(),
                ))
            }
        };
        let mut warnings = Vec::new();
        if let serde_json::Value::Array(entries) = &mut list {
            for (index, entry) in entries.iter_mut().enumerate() {
                weak::normalize_object(
                    entry,
                    weak::PLUGIN,
                    &format!("{base}[{index}]"),
                    &mut warnings,
                );
            }
        }
        let sources_value = engine_value.as_mut().and_then(sources::take);
        if let Some(engine) = &mut engine_value {
            weak::normalize_object(engine, weak::ENGINE, "engine", &mut warnings);
        }
        let mut plugins: Vec<PluginConfig> =
            serde_path_to_error::deserialize(list).map_err(|err| {
                let at = err.path().to_string();
                let inner = err.into_inner();
                parse_err(format!("{}: {inner}", json_path(&base, &at)))
            })?;
        let mut engine: EngineSection = match engine_value {
            Some(value) => serde_path_to_error::deserialize(value).map_err(|err| {
                let at = err.path().to_string();
                let inner = err.into_inner();
                parse_err(format!("{}: {inner}", json_path("engine", &at)))
            })?,
            None => EngineSection::default(),
        };
        apply_plugin_overrides(&mut plugins, env);
        let mut problems = Vec::new();
        engine.apply_env(env, &mut problems);
        let settings = engine.settings(&mut problems);
        engine.serve_settings(&settings.data_dir, &mut problems);
        engine.sources = sources::parse(
            sources_value,
            settings.durability == plexus_actors::Durability::WriteAhead,
            env,
            &mut warnings,
            &mut problems,
        );
        for (index, plugin) in plugins.iter().enumerate() {
            if plugin.kind == "notifier" {
                warnings.extend(vocabulary::filter_warnings(
                    plugin,
                    &format!("plugins[{index}]"),
                ));
            }
        }
        let file = PluginsFile {
            plugins,
            engine,
            warnings,
        };
        problems.extend(file.problems());
        if problems.is_empty() {
            Ok(file)
        } else {
            Err(ConfigError::Invalid {
                path: origin.to_owned(),
                problems,
                warnings: file.warnings,
            })
        }
    }

    /// Every validation problem of the plugins, each with its path.
    pub fn problems(&self) -> Vec<String> {
        validate_plugins(&self.plugins)
    }

    /// The engine settings of the `engine` section (already validated by `parse`).
    pub fn engine_settings(&self) -> crate::settings::EngineSettings {
        self.engine.settings(&mut Vec::new())
    }

    /// Where `plexus serve` listens (already validated by `parse`).
    pub fn serve_settings(&self) -> ServeSettings {
        let settings = self.engine_settings();
        self.engine
            .serve_settings(&settings.data_dir, &mut Vec::new())
    }
}

/// The KMS schemes SFTPGo accepts.
pub const KMS_SCHEMES: [&str; 5] = [
    "awskms",
    "gcpkms",
    "hashivault",
    "azurekeyvault",
    "ocikeyvault",
];
/// The KMS encrypted statuses SFTPGo accepts.
pub const KMS_STATUSES: [&str; 5] = [
    "AWS",
    "GCP",
    "VaultTransit",
    "AzureKeyVault",
    "OracleKeyVault",
];

/// Every problem of a plugin list: each entry's own, then the rules across
/// entries (unique KMS schemes and statuses, one event searcher).
pub fn validate_plugins(plugins: &[PluginConfig]) -> Vec<String> {
    use plexus_proto::PluginKind;
    let mut problems: Vec<String> = plugins
        .iter()
        .enumerate()
        .flat_map(|(index, plugin)| plugin.problems(&format!("plugins[{index}]")))
        .collect();
    let mut schemes: Vec<(&str, usize)> = Vec::new();
    let mut statuses: Vec<(&str, usize)> = Vec::new();
    let mut searcher: Option<usize> = None;
    for (index, plugin) in plugins.iter().enumerate() {
        let at = format!("plugins[{index}]");
        match plugin.plugin_kind() {
            Ok(PluginKind::Kms) => {
                let options = &plugin.kms_options;
                if !KMS_SCHEMES.contains(&options.scheme.as_str()) {
                    problems.push(format!(
                        "{at}.kms_options.scheme: invalid kms scheme {:?} (one of {})",
                        options.scheme,
                        KMS_SCHEMES.join(", ")
                    ));
                }
                if !KMS_STATUSES.contains(&options.encrypted_status.as_str()) {
                    problems.push(format!(
                        "{at}.kms_options.encrypted_status: invalid kms encrypted status {:?} (one of {})",
                        options.encrypted_status,
                        KMS_STATUSES.join(", ")
                    ));
                }
                if let Some((_, first)) = schemes.iter().find(|(s, _)| *s == options.scheme) {
                    problems.push(format!(
                        "{at}.kms_options.scheme: duplicated scheme {:?} (also plugins[{first}])",
                        options.scheme
                    ));
                } else {
                    schemes.push((&options.scheme, index));
                }
                if let Some((_, first)) = statuses.iter().find(|(s, _)| *s == options.encrypted_status) {
                    problems.push(format!(
                        "{at}.kms_options.encrypted_status: duplicated encrypted status {:?} (also plugins[{first}])",
                        options.encrypted_status
                    ));
                } else {
                    statuses.push((&options.encrypted_status, index));
                }
            }
            Ok(PluginKind::EventSearcher) => match searcher {
                Some(first) => problems.push(format!(
                    "{at}.type: only one eventsearcher plugin can be defined (plugins[{first}] is one)"
                )),
                None => searcher = Some(index),
            },
            _ => {}
        }
    }
    problems
}

/// Removes `key` from `object`, matching it case-insensitively as viper
/// does (the last of several spellings wins).
fn take_key(
    object: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<serde_json::Value> {
    let spellings: Vec<String> = object
        .keys()
        .filter(|k| k.eq_ignore_ascii_case(key))
        .cloned()
        .collect();
    spellings
        .into_iter()
        .filter_map(|spelling| object.remove(&spelling))
        .last()
}

/// Joins serde_path_to_error's path (`[2].cmd`) onto the base (`plugins`).
fn json_path(base: &str, at: &str) -> String {
    if at == "." || at.is_empty() {
        base.to_owned()
    } else if at.starts_with('[') {
        format!("{base}{at}")
    } else {
        format!("{base}.{at}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_bare_array_and_a_plugins_object() {
        let entry =
            r#"{"type":"notifier","cmd":"/bin/true","notifier_options":{"fs_events":["upload"]}}"#;
        let bare = PluginsFile::parse(&format!("[{entry}]"), "t").unwrap();
        let wrapped =
            PluginsFile::parse(&format!(r#"{{"common":{{}},"plugins":[{entry}]}}"#), "t").unwrap();
        assert_eq!(bare, wrapped);
        assert_eq!(bare.plugins[0].cmd, "/bin/true");
    }

    #[test]
    fn parse_errors_name_the_path() {
        let err = PluginsFile::parse(
            r#"[{"type":"notifier","cmd":"/x","args":{"serve":1}}]"#,
            "f.json",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("plugins[0].args"), "{text}");
        let err = PluginsFile::parse("{oops", "f.json").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = PluginsFile::parse(r#"{"x":1}"#, "f.json").unwrap_err();
        assert!(err.to_string().contains("no \"plugins\" key"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let text = r#"[
            {"type":"notifier","cmd":"/bin/true"},
            {"type":"metadata","cmd":""},
            {"type":"ipfilter","cmd":"/bin/true","sha256sum":"nothex"}
        ]"#;
        let ConfigError::Invalid { problems, .. } = PluginsFile::parse(text, "t").unwrap_err()
        else {
            panic!("expected validation errors");
        };
        let all = problems.join("\n");
        assert!(
            all.contains("plugins[0].notifier_options: no actions defined"),
            "{all}"
        );
        assert!(
            all.contains("plugins[1].type: unsupported plugin type \"metadata\""),
            "{all}"
        );
        assert!(all.contains("plugins[1].cmd: must not be empty"), "{all}");
        assert!(
            all.contains("plugins[2].sha256sum: invalid sha256 hash"),
            "{all}"
        );
    }
}
