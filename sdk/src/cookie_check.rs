//! The magic-cookie check, the very first thing a plugin does.
//!
//! A go-plugin host sets `KEY=VALUE` of the plugin kind's cookie in the
//! child's environment. Without it (someone ran the binary by hand, or a host
//! of another kind started it) a go-plugin server prints a fixed message and
//! exits 1 before touching stdout; this module makes that decision.

use plexus_proto::PluginKind;

use crate::env::Var;
use crate::error::ServeError;

/// Checks the kind's magic cookie in the real process environment.
///
/// Call it early in `main` when the plugin does expensive setup (opening a
/// database, creating files) before serving; `serve` checks it again anyway.
pub fn check_cookie(kind: PluginKind) -> Result<(), ServeError> {
    check(kind, &Var::from_os(std::env::var_os(kind.cookie().key)))
}

/// The cookie value must equal the kind's, byte for byte (as go-plugin compares).
pub(crate) fn check(kind: PluginKind, value: &Var) -> Result<(), ServeError> {
    match value {
        Var::Set(text) if text == kind.cookie().value => Ok(()),
        _ => Err(ServeError::NotLaunchedByHost { kind }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_cookie_passes() {
        let value = Var::from(PluginKind::Notifier.cookie().value);
        assert!(check(PluginKind::Notifier, &value).is_ok());
    }

    #[test]
    fn missing_wrong_or_other_kinds_cookie_is_refused() {
        for value in [
            Var::Unset,
            Var::NotUnicode,
            Var::from(""),
            Var::from("c499b98b-cd59-4df2-92b3-6268817f4d80 "),
            Var::from(PluginKind::Kms.cookie().value),
        ] {
            let err = check(PluginKind::Notifier, &value).unwrap_err();
            assert!(matches!(err, ServeError::NotLaunchedByHost { .. }));
            assert!(err.to_string().starts_with("This binary is a plugin."));
        }
    }
}
