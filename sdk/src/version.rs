//! App protocol version negotiation.
//!
//! The host lists the app protocol versions it speaks in
//! `PLUGIN_PROTOCOL_VERSIONS` (comma separated); the plugin picks the highest
//! one it also serves and prints it as the handshake line's second field.
//! Every SFTPGo plugin kind speaks exactly version 1.
//!
//! Leniency, as go-plugin's server: entries that are not numbers are skipped
//! (with a warning), blanks around entries are ignored, and a missing or empty
//! variable means an old host that did not send the list, so the plugin's own
//! version is used. Unlike go-plugin, which then falls back to its lowest
//! version and lets the host refuse the line, a list with no version in common
//! is an error here, so the reason is on the plugin's stderr.

use plexus_proto::PluginKind;

use crate::env::Var;
use crate::error::ServeError;

/// The outcome: the version to print, plus entries that were skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Negotiated {
    pub version: u32,
    pub skipped: Vec<String>,
}

/// Picks the highest version in `offered` that is also in `supported`.
pub(crate) fn negotiate(
    kind: PluginKind,
    offered: &Var,
    supported: &[u32],
) -> Result<Negotiated, ServeError> {
    let highest_supported = supported.iter().copied().max().unwrap_or(1);
    let list = match offered {
        Var::Unset => {
            return Ok(Negotiated {
                version: highest_supported,
                skipped: Vec::new(),
            })
        }
        Var::NotUnicode => {
            return Err(ServeError::InvalidVariable {
                name: "PLUGIN_PROTOCOL_VERSIONS",
                reason: "the value is not valid UTF-8".into(),
            })
        }
        Var::Set(list) if list.trim().is_empty() => {
            return Ok(Negotiated {
                version: highest_supported,
                skipped: Vec::new(),
            })
        }
        Var::Set(list) => list,
    };
    let mut skipped = Vec::new();
    let mut common: Option<u32> = None;
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.parse::<u32>() {
            Ok(version) if supported.contains(&version) => {
                common = Some(common.map_or(version, |best| best.max(version)));
            }
            Ok(_) => {}
            Err(_) => skipped.push(entry.to_owned()),
        }
    }
    match common {
        Some(version) => Ok(Negotiated { version, skipped }),
        None => Err(ServeError::NoCommonVersion {
            kind,
            offered: list.clone(),
            supported: highest_supported,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(offered: Var) -> Result<Negotiated, ServeError> {
        negotiate(PluginKind::Notifier, &offered, &[1])
    }

    #[test]
    fn missing_or_empty_list_means_the_plugins_version() {
        assert_eq!(pick(Var::Unset).unwrap().version, 1);
        assert_eq!(pick(Var::from("")).unwrap().version, 1);
        assert_eq!(pick(Var::from("  ")).unwrap().version, 1);
    }

    #[test]
    fn highest_common_version_wins() {
        assert_eq!(pick(Var::from("1")).unwrap().version, 1);
        assert_eq!(pick(Var::from("3, 1,2")).unwrap().version, 1);
        let two = negotiate(PluginKind::Kms, &Var::from("1,2,5"), &[1, 2]).unwrap();
        assert_eq!(two.version, 2);
    }

    #[test]
    fn garbage_entries_are_skipped_and_reported() {
        let negotiated = pick(Var::from("x,1,,v2")).unwrap();
        assert_eq!(negotiated.version, 1);
        assert_eq!(negotiated.skipped, vec!["x".to_owned(), "v2".to_owned()]);
    }

    #[test]
    fn no_common_version_is_a_clear_error() {
        let err = pick(Var::from("2,3")).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ServeError::NoCommonVersion { .. }));
        assert!(text.contains("\"2,3\""), "{text}");
        assert!(text.contains("only version 1"), "{text}");
        assert!(pick(Var::from("abc")).is_err());
        assert!(pick(Var::NotUnicode).is_err());
    }
}
