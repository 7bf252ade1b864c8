//! Reads a config the way SFTPGo's viper does, before the typed decoding:
//! keys are case-insensitive, keys nobody knows are warnings (named by
//! path) rather than errors, and values are decoded weakly for the fields
//! SFTPGo declares (mapstructure's `WeaklyTypedInput` with viper's
//! string-to-slice hook):
//! - a string where a list is expected is split on `,` (`"serve"` becomes
//!   `["serve"]`, `""` an empty list);
//! - a numeric string where a number is expected is that number;
//! - `"true"`/`"1"`/`"t"` (and their false forms) where a bool is expected
//!   is that bool, and so is a number (non-zero is true);
//! - a number or a bool where a string is expected is its text.
//!
//! A value that cannot be converted is left as it is, so the typed decoding
//! reports it with its path.

use serde_json::{Map, Value};

/// What a field holds.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Text,
    TextList,
    Integer,
    IntegerList,
    Number,
    Bool,
    Object(&'static [(&'static str, Shape)]),
}

/// One entry of SFTPGo's `plugins` list.
pub const PLUGIN: &[(&str, Shape)] = &[
    ("type", Shape::Text),
    ("notifier_options", Shape::Object(NOTIFIER_OPTIONS)),
    ("kms_options", Shape::Object(KMS_OPTIONS)),
    ("auth_options", Shape::Object(AUTH_OPTIONS)),
    ("cmd", Shape::Text),
    ("args", Shape::TextList),
    ("sha256sum", Shape::Text),
    ("auto_mtls", Shape::Bool),
    ("env_prefix", Shape::Text),
    ("env_vars", Shape::TextList),
];

const NOTIFIER_OPTIONS: &[(&str, Shape)] = &[
    ("fs_events", Shape::TextList),
    ("provider_events", Shape::TextList),
    ("provider_objects", Shape::TextList),
    ("log_events", Shape::IntegerList),
    ("retry_max_time", Shape::Integer),
    ("retry_queue_max_size", Shape::Integer),
];

const KMS_OPTIONS: &[(&str, Shape)] = &[("scheme", Shape::Text), ("encrypted_status", Shape::Text)];

const AUTH_OPTIONS: &[(&str, Shape)] = &[("scope", Shape::Integer)];

/// Plexus's `engine` section.
pub const ENGINE: &[(&str, Shape)] = &[
    ("data_dir", Shape::Text),
    ("retry_interval", Shape::Number),
    ("durability", Shape::Text),
    ("rpc_timeout", Shape::Number),
    ("start_timeout", Shape::Number),
    ("shutdown_grace", Shape::Number),
    ("health_interval", Shape::Number),
    ("health_failure_threshold", Shape::Integer),
    ("mailbox_capacity", Shape::Integer),
    ("overflow_wait", Shape::Number),
    ("max_batch_bytes", Shape::Integer),
    ("max_reply_bytes", Shape::Integer),
    ("ingest_max_batch", Shape::Integer),
    ("ingest_max_message_bytes", Shape::Integer),
    ("max_in_flight", Shape::Integer),
    ("max_calls_in_flight", Shape::Integer),
    ("router_mailbox", Shape::Integer),
    ("max_flush_delay_ms", Shape::Integer),
    ("ipfilter_fail_closed", Shape::Bool),
    ("write_ahead_fsync", Shape::Bool),
    ("log_level", Shape::Text),
    ("ingest_unix", Shape::Text),
    ("ingest_unix_group", Shape::Text),
    ("ingest_tcp", Shape::Text),
    ("ingest_token_file", Shape::Text),
    ("metrics_tcp", Shape::Text),
];

/// Normalizes `value`, an object of `fields`, in place; unknown keys are
/// removed with a warning naming `path.key`.
pub fn normalize_object(
    value: &mut Value,
    fields: &[(&str, Shape)],
    path: &str,
    warnings: &mut Vec<String>,
) {
    let Value::Object(object) = value else {
        return;
    };
    let taken = std::mem::take(object);
    let mut normalized = Map::new();
    for (key, mut item) in taken {
        let lower = key.to_ascii_lowercase();
        let Some((name, shape)) = fields.iter().find(|(name, _)| *name == lower) else {
            warnings.push(format!("{path}.{key}: unknown key, ignored"));
            continue;
        };
        let at = format!("{path}.{name}");
        if normalized.contains_key(*name) {
            warnings.push(format!(
                "{at}: given twice (keys are case-insensitive); the later one is used"
            ));
        }
        normalize_value(&mut item, *shape, &at, warnings);
        normalized.insert((*name).to_owned(), item);
    }
    *object = normalized;
}

fn normalize_value(value: &mut Value, shape: Shape, path: &str, warnings: &mut Vec<String>) {
    let converted = match (shape, &*value) {
        (Shape::Object(fields), Value::Object(_)) => {
            normalize_object(value, fields, path, warnings);
            None
        }
        (Shape::Text, Value::Number(n)) => Some(Value::String(n.to_string())),
        (Shape::Text, Value::Bool(b)) => Some(Value::String(b.to_string())),
        (Shape::TextList, Value::String(text)) => Some(Value::Array(
            split_list(text).into_iter().map(Value::String).collect(),
        )),
        (Shape::TextList, Value::Array(items)) => {
            Some(Value::Array(items.iter().cloned().map(text_of).collect()))
        }
        (Shape::Integer, Value::String(text)) => integer(text).map(Value::from),
        (Shape::Integer, Value::Bool(b)) => Some(Value::from(i64::from(*b))),
        (Shape::Integer, Value::Number(n)) if !n.is_i64() && !n.is_u64() => {
            // mapstructure truncates a float given for an integer.
            n.as_f64().map(|f| Value::from(f.trunc() as i64))
        }
        (Shape::IntegerList, Value::String(text)) => Some(Value::Array(
            split_list(text)
                .iter()
                .map(|item| {
                    integer(item)
                        .map(Value::from)
                        .unwrap_or(Value::String(item.clone()))
                })
                .collect(),
        )),
        (Shape::IntegerList, Value::Array(items)) => Some(Value::Array(
            items
                .iter()
                .map(|item| match item {
                    Value::String(text) => integer(text).map(Value::from).unwrap_or(item.clone()),
                    _ => item.clone(),
                })
                .collect(),
        )),
        (Shape::Number, Value::String(text)) => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        (Shape::Bool, Value::String(text)) => parse_go_bool(text).map(Value::Bool),
        (Shape::Bool, Value::Number(n)) => n.as_f64().map(|f| Value::Bool(f != 0.0)),
        _ => None,
    };
    if let Some(converted) = converted {
        *value = converted;
    }
}

/// viper's string-to-slice hook: split on `,`; the empty string is an
/// empty list.
fn split_list(text: &str) -> Vec<String> {
    if text.is_empty() {
        Vec::new()
    } else {
        text.split(',').map(str::to_owned).collect()
    }
}

fn text_of(value: Value) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => other,
    }
}

/// A number as Go's `strconv.ParseInt(s, 0, 64)` reads it (decimal, or
/// with a 0x/0o/0b prefix); an empty string is 0, as mapstructure has it.
fn integer(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let lower = digits.to_ascii_lowercase();
    let magnitude = if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(octal) = lower.strip_prefix("0o") {
        i64::from_str_radix(octal, 8).ok()?
    } else if let Some(binary) = lower.strip_prefix("0b") {
        i64::from_str_radix(binary, 2).ok()?
    } else {
        lower.parse::<i64>().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn normalized(mut value: Value) -> (Value, Vec<String>) {
        let mut warnings = Vec::new();
        normalize_object(&mut value, PLUGIN, "plugins[0]", &mut warnings);
        (value, warnings)
    }

    #[test]
    fn keys_are_case_insensitive_and_unknown_ones_are_warnings() {
        let (value, mut warnings) = normalized(json!({
            "Type": "notifier", "CMD": "/bin/p",
            "Notifier_Options": {"FS_Events": ["upload"], "colour": "blue"},
            "extra": 1
        }));
        assert_eq!(
            value,
            json!({"type": "notifier", "cmd": "/bin/p", "notifier_options": {"fs_events": ["upload"]}})
        );
        warnings.sort();
        assert_eq!(
            warnings,
            [
                "plugins[0].extra: unknown key, ignored",
                "plugins[0].notifier_options.colour: unknown key, ignored"
            ]
        );
    }

    #[test]
    fn values_are_decoded_weakly_as_viper_does() {
        let (value, warnings) = normalized(json!({
            "args": "serve,--verbose",
            "env_vars": "",
            "auto_mtls": "1",
            "sha256sum": 123,
            "notifier_options": {
                "log_events": "1,2,x",
                "retry_max_time": "60",
                "retry_queue_max_size": 2.9,
                "provider_events": [1, "add"]
            },
            "auth_options": {"scope": "0x5"}
        }));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(value["args"], json!(["serve", "--verbose"]));
        assert_eq!(value["env_vars"], json!([]));
        assert_eq!(value["auto_mtls"], json!(true));
        assert_eq!(value["sha256sum"], json!("123"));
        // "x" stays a string: the typed decoding reports it with its path.
        assert_eq!(value["notifier_options"]["log_events"], json!([1, 2, "x"]));
        assert_eq!(value["notifier_options"]["retry_max_time"], json!(60));
        assert_eq!(value["notifier_options"]["retry_queue_max_size"], json!(2));
        assert_eq!(
            value["notifier_options"]["provider_events"],
            json!(["1", "add"])
        );
        assert_eq!(value["auth_options"]["scope"], json!(5));
    }

    #[test]
    fn what_cannot_be_converted_is_left_for_the_typed_decoding() {
        let (value, _) = normalized(
            json!({"auto_mtls": "maybe", "notifier_options": {"retry_max_time": "soon"}}),
        );
        assert_eq!(value["auto_mtls"], json!("maybe"));
        assert_eq!(value["notifier_options"]["retry_max_time"], json!("soon"));
    }
}
