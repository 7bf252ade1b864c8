//! Reading the JSON credential objects of `credential_process`, the
//! container endpoint and the instance metadata service the way Go's
//! `encoding/json` reads them into the SDK's structs: a key matches a
//! field without regard to case (an exact match first), `null` is absent,
//! and an empty string counts as unset.

use serde_json::{Map, Value};

/// The object in `bytes`, or what is wrong with it (never its content:
/// it holds secrets).
pub fn object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("not a JSON object".to_owned()),
        Err(_) => Err("not JSON".to_owned()),
    }
}

/// A field, the key matched as Go matches it.
pub fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .get(name)
        .or_else(|| {
            object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

/// A string field; `Ok(None)` when absent or empty.
pub fn string(object: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match field(object, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(_) => Err(format!("{name} is not a string")),
    }
}

/// A string field that must be there.
pub fn required(object: &Map<String, Value>, name: &str) -> Result<String, String> {
    string(object, name)?.ok_or_else(|| format!("no {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_matching() {
        let o = object(br#"{"accessKeyID":"a","Token":null,"N":1,"E":""}"#).unwrap();
        assert_eq!(string(&o, "AccessKeyId").unwrap().as_deref(), Some("a"));
        assert_eq!(string(&o, "Token").unwrap(), None);
        assert_eq!(string(&o, "E").unwrap(), None);
        assert!(string(&o, "N").is_err());
        assert_eq!(required(&o, "Missing").unwrap_err(), "no Missing");
        assert_eq!(object(b"[1]").unwrap_err(), "not a JSON object");
        assert_eq!(object(b"secret").unwrap_err(), "not JSON");
    }
}
