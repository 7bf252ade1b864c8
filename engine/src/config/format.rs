//! The file formats a config may be written in, as SFTPGo (viper) reads
//! them: JSON, YAML and TOML, chosen by the file's extension. Each is read
//! into one JSON value, so everything after this step is format-blind.

use std::path::Path;

/// A config file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
    Toml,
}

impl Format {
    /// The format of a file named `origin`: `.yaml`/`.yml` and `.toml` by
    /// their extension (any case), everything else JSON.
    pub fn of(origin: &str) -> Format {
        let extension = Path::new(origin)
            .extension()
            .map(|ext| ext.to_string_lossy().to_ascii_lowercase());
        match extension.as_deref() {
            Some("yaml" | "yml") => Format::Yaml,
            Some("toml") => Format::Toml,
            _ => Format::Json,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Yaml => "YAML",
            Format::Toml => "TOML",
        }
    }

    /// Reads `text` into a JSON value; the error says which format was
    /// expected and where the text stopped making sense.
    pub fn read(self, text: &str) -> Result<serde_json::Value, String> {
        let value = match self {
            Format::Json => serde_json::from_str(text).map_err(|err| err.to_string()),
            Format::Yaml => serde_yaml_ng::from_str(text).map_err(|err| err.to_string()),
            Format::Toml => toml::from_str::<toml::Value>(text)
                .map_err(|err| err.to_string())
                .and_then(|value| serde_json::to_value(value).map_err(|err| err.to_string())),
        };
        value.map_err(|err| format!("not valid {}: {err}", self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_picks_the_format_and_each_reads_the_same_value() {
        assert_eq!(Format::of("/etc/sftpgo/sftpgo.YAML"), Format::Yaml);
        assert_eq!(Format::of("sftpgo.yml"), Format::Yaml);
        assert_eq!(Format::of("sftpgo.toml"), Format::Toml);
        assert_eq!(Format::of("sftpgo.json"), Format::Json);
        assert_eq!(Format::of("plugins"), Format::Json);
        let json = Format::Json
            .read(r#"{"plugins": [{"type": "notifier", "args": ["a"], "auto_mtls": true}]}"#)
            .unwrap();
        let yaml = Format::Yaml
            .read("plugins:\n  - type: notifier\n    args: [a]\n    auto_mtls: true\n")
            .unwrap();
        let toml = Format::Toml
            .read("[[plugins]]\ntype = \"notifier\"\nargs = [\"a\"]\nauto_mtls = true\n")
            .unwrap();
        assert_eq!(json, yaml);
        assert_eq!(json, toml);
        let err = Format::Yaml.read("plugins: [").unwrap_err();
        assert!(err.starts_with("not valid YAML"), "{err}");
    }
}
