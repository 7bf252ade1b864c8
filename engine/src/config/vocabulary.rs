//! The names a notifier's filters may hold, so that a typo is caught before
//! it silently filters out every event. SFTPGo accepts any value (it just
//! never matches); newer SFTPGo versions add actions, so an unknown name is
//! a warning, an error only with `plexus validate --strict`.

use super::PluginConfig;

/// SFTPGo's filesystem actions (docs, plus the `pre-*` actions the code emits).
pub const FS_ACTIONS: &[&str] = &[
    "download",
    "upload",
    "first-upload",
    "first-download",
    "delete",
    "rename",
    "mkdir",
    "rmdir",
    "copy",
    "ssh_cmd",
    "pre-upload",
    "pre-download",
    "pre-delete",
];
/// SFTPGo's provider actions.
pub const PROVIDER_ACTIONS: &[&str] = &["add", "update", "delete"];
/// SFTPGo's provider object types.
pub const PROVIDER_OBJECTS: &[&str] = &[
    "user",
    "folder",
    "group",
    "admin",
    "api_key",
    "share",
    "event_action",
    "event_rule",
    "role",
    "ip_list_entry",
    "configs",
];
/// SFTPGo's log event ids: 1 login failed, 2 login with a missing user,
/// 3 no login tried, 4 algorithm negotiation failed, 5 login ok.
pub const LOG_EVENTS: std::ops::RangeInclusive<i32> = 1..=5;

/// Warnings for the filter values of `plugin` (at `at`) that SFTPGo never
/// sends.
pub fn filter_warnings(plugin: &PluginConfig, at: &str) -> Vec<String> {
    let options = &plugin.notifier_options;
    let mut warnings = Vec::new();
    let mut check = |field: &str, values: &[String], known: &[&str], what: &str| {
        for (index, value) in values.iter().enumerate() {
            if known.contains(&value.as_str()) {
                continue;
            }
            let hint = closest(value, known)
                .map(|near| format!(" (did you mean {near:?}?)"))
                .unwrap_or_default();
            warnings.push(format!(
                "{at}.notifier_options.{field}[{index}]: unknown {what} {value:?}{hint}"
            ));
        }
    };
    check("fs_events", &options.fs_events, FS_ACTIONS, "action");
    check(
        "provider_events",
        &options.provider_events,
        PROVIDER_ACTIONS,
        "provider action",
    );
    check(
        "provider_objects",
        &options.provider_objects,
        PROVIDER_OBJECTS,
        "provider object",
    );
    for (index, id) in options.log_events.iter().enumerate() {
        if !LOG_EVENTS.contains(id) {
            warnings.push(format!(
                "{at}.notifier_options.log_events[{index}]: unknown log event {id} (known: 1 to 5)"
            ));
        }
    }
    warnings
}

/// The known name nearest to `value`, when it is a plausible typo (an edit
/// distance of at most a third of its length, and at least 1).
fn closest<'a>(value: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = value.to_ascii_lowercase();
    known
        .iter()
        .map(|name| (edit_distance(&lower, name), *name))
        .filter(|(distance, name)| *distance <= (name.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance over bytes (the names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &left) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &right) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(left != right);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NotifierOptions;

    #[test]
    fn typos_are_named_with_a_suggestion_and_known_names_pass() {
        let plugin = PluginConfig {
            notifier_options: NotifierOptions {
                fs_events: vec!["upload".into(), "uplod".into(), "Upload".into()],
                provider_events: vec!["updte".into()],
                provider_objects: vec!["user".into(), "bananas".into()],
                log_events: vec![1, 9],
                ..Default::default()
            },
            ..Default::default()
        };
        let warnings = filter_warnings(&plugin, "plugins[0]");
        assert_eq!(
            warnings,
            [
                "plugins[0].notifier_options.fs_events[1]: unknown action \"uplod\" (did you mean \"upload\"?)",
                "plugins[0].notifier_options.fs_events[2]: unknown action \"Upload\" (did you mean \"upload\"?)",
                "plugins[0].notifier_options.provider_events[0]: unknown provider action \"updte\" (did you mean \"update\"?)",
                "plugins[0].notifier_options.provider_objects[1]: unknown provider object \"bananas\"",
                "plugins[0].notifier_options.log_events[1]: unknown log event 9 (known: 1 to 5)",
            ]
        );
    }
}
