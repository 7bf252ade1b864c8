//! The command line and environment of `sftpgo-plugin-geoipfilter` 1.2.0:
//! `serve` with `--db-file`, `--db-type`, `--allowed-countries`,
//! `--denied-countries`, `--deny-on-lookup-error`, `--deny-unknown-country`,
//! each also read from `SFTPGO_PLUGIN_GEOIPFILTER_*`, and the checks the Go
//! plugin makes before it opens the database.

use std::collections::HashSet;
use std::path::PathBuf;

use clap::Parser;

use crate::database::DbType;
use crate::decision::Policy;

/// The plugin's command line.
#[derive(Debug, Parser)]
#[command(
    name = "plexus-geoipfilter",
    version,
    about = "An SFTPGo/Plexus ipfilter plugin: allow or deny clients by country (MaxMind DB)",
    after_help = "In the host's plugins config:\n  \
        {\"type\": \"ipfilter\", \"cmd\": \"/usr/local/bin/plexus-geoipfilter\",\n   \
        \"args\": [\"serve\", \"--db-file\", \"/var/lib/sftpgo/GeoLite2-Country.mmdb\",\n            \
        \"--allowed-countries\", \"IT,US\"],\n   \
        \"auto_mtls\": true}"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands: only `serve`, as in the Go plugin.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Launch the plugin; it must be started by SFTPGo or Plexus.
    Serve(ServeArgs),
}

/// `serve`'s flags.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Path to the MMDB database (MaxMind GeoLite2/GeoIP2, IPLocate, IPinfo Lite).
    #[arg(long, env = "SFTPGO_PLUGIN_GEOIPFILTER_DB_FILE", value_name = "PATH")]
    pub db_file: Option<PathBuf>,
    /// Database layout: 0 = MaxMind (country.iso_code), 1 = top-level country_code (IPLocate, IPinfo).
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_GEOIPFILTER_DB_TYPE",
        default_value = "0",
        value_name = "0|1"
    )]
    pub db_type: String,
    /// Comma separated allowed countries in ISO 3166-1 alpha-2 format.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_GEOIPFILTER_ALLOWED_COUNTRIES",
        default_value = ""
    )]
    pub allowed_countries: String,
    /// Comma separated denied countries in ISO 3166-1 alpha-2 format.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_GEOIPFILTER_DENIED_COUNTRIES",
        default_value = ""
    )]
    pub denied_countries: String,
    /// Deny an IP that cannot be parsed or whose lookup fails (default: allow).
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_GEOIPFILTER_DENY_ON_LOOKUP_ERROR",
        value_parser = parse_go_bool,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false"
    )]
    pub deny_on_lookup_error: bool,
    /// Deny an IP for which the database has no country (default: allow).
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_GEOIPFILTER_DENY_UNKNOWN_COUNTRY",
        value_parser = parse_go_bool,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false"
    )]
    pub deny_unknown_country: bool,
}

/// What `serve` needs, checked.
#[derive(Debug)]
pub struct Settings {
    pub db_file: PathBuf,
    pub db_type: DbType,
    pub policy: Policy,
}

impl ServeArgs {
    /// Checks the flags as the Go plugin does, with messages naming the flag
    /// and its variable.
    pub fn settings(self) -> Result<Settings, String> {
        let db_type = match self.db_type.trim() {
            "0" => DbType::MaxMind,
            "1" => DbType::CountryCode,
            other => {
                return Err(format!(
                    "--db-type (SFTPGO_PLUGIN_GEOIPFILTER_DB_TYPE) {other:?} is not supported: \
                     use 0 (MaxMind, country.iso_code) or 1 (IPLocate/IPinfo, country_code)"
                ))
            }
        };
        let allowed = country_list(&self.allowed_countries);
        let denied = country_list(&self.denied_countries);
        if allowed.is_empty() && denied.is_empty() {
            return Err("please set allowed or denied countries or both \
                 (--allowed-countries / SFTPGO_PLUGIN_GEOIPFILTER_ALLOWED_COUNTRIES, \
                 --denied-countries / SFTPGO_PLUGIN_GEOIPFILTER_DENIED_COUNTRIES)"
                .into());
        }
        let db_file =
            match self.db_file {
                Some(path) if !path.as_os_str().is_empty() => path,
                _ => return Err(
                    "--db-file (SFTPGO_PLUGIN_GEOIPFILTER_DB_FILE) is required: the path of the \
                     .mmdb country database"
                        .into(),
                ),
            };
        Ok(Settings {
            db_file,
            db_type,
            policy: Policy {
                allowed,
                denied,
                deny_on_lookup_error: self.deny_on_lookup_error,
                deny_unknown_country: self.deny_unknown_country,
            },
        })
    }
}

/// A comma list: each entry trimmed, empty entries dropped; compared
/// exactly (case-sensitive), as the Go plugin does.
pub fn country_list(text: &str) -> HashSet<String> {
    text.split(',')
        .map(str::trim)
        .filter(|country| !country.is_empty())
        .map(str::to_owned)
        .collect()
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

    fn serve(args: &[&str]) -> Result<Settings, String> {
        let mut argv = vec!["plexus-geoipfilter", "serve"];
        argv.extend_from_slice(args);
        let Command::Serve(args) = Cli::try_parse_from(argv)
            .map_err(|err| err.to_string())?
            .command;
        args.settings()
    }

    #[test]
    fn countries_are_trimmed_and_exact() {
        let list = country_list(" IT, US ,,it ,");
        assert_eq!(list.len(), 3);
        assert!(list.contains("IT") && list.contains("US") && list.contains("it"));
    }

    #[test]
    fn a_country_list_and_a_database_are_required() {
        let err = serve(&["--db-file", "x.mmdb"]).unwrap_err();
        assert!(
            err.contains("please set allowed or denied countries"),
            "{err}"
        );
        let err = serve(&["--allowed-countries", " , "]).unwrap_err();
        assert!(err.contains("please set allowed or denied"), "{err}");
        let err = serve(&["--allowed-countries", "IT"]).unwrap_err();
        assert!(err.contains("SFTPGO_PLUGIN_GEOIPFILTER_DB_FILE"), "{err}");
    }

    #[test]
    fn db_type_and_fail_closed_flags() {
        let settings = serve(&["--db-file", "x", "--denied-countries", "CN"]).unwrap();
        assert_eq!(settings.db_type, DbType::MaxMind);
        assert!(!settings.policy.deny_on_lookup_error && !settings.policy.deny_unknown_country);
        let settings = serve(&[
            "--db-file",
            "x",
            "--denied-countries",
            "CN",
            "--db-type",
            "1",
            "--deny-on-lookup-error",
            "--deny-unknown-country=false",
        ])
        .unwrap();
        assert_eq!(settings.db_type, DbType::CountryCode);
        assert!(settings.policy.deny_on_lookup_error);
        assert!(!settings.policy.deny_unknown_country);
        let err = serve(&[
            "--db-file",
            "x",
            "--denied-countries",
            "CN",
            "--db-type",
            "2",
        ])
        .unwrap_err();
        assert!(
            err.contains("--db-type") && err.contains("not supported"),
            "{err}"
        );
        assert!(serve(&[
            "--db-file",
            "x",
            "--allowed-countries",
            "IT",
            "--deny-unknown-country=yes"
        ])
        .is_err());
    }

    #[test]
    fn go_booleans() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(yes), Ok(true));
        }
        for no in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(no), Ok(false));
        }
        assert!(parse_go_bool("yes").is_err());
        assert!(parse_go_bool("").is_err());
    }
}
