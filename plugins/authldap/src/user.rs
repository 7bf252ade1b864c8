//! The user document returned to SFTPGo after a successful LDAP check.
//! SFTPGo sends its current user as JSON (`id` 0 and only the username for
//! a user it does not know). The plugin decides, with the Go plugin's
//! rules, whether anything must change: if not, the answer is empty and
//! SFTPGo keeps its user (re-hashing the password just used); otherwise it
//! is the user with the changes. The document is edited as JSON, so fields
//! this plugin does not know pass through untouched.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::directory::UserEntry;
use crate::error::AuthError;
use crate::groups::GroupMapping;
use crate::settings::Settings;

/// The WebClient restrictions every LDAP user gets: passwords live in LDAP.
pub const WEB_CLIENT_RESTRICTIONS: [&str; 2] =
    ["password-change-disabled", "password-reset-disabled"];

/// The answer for a user found in LDAP: empty for "no change", else the
/// user JSON.
pub fn answer(
    settings: &Settings,
    username: &str,
    user_json: &[u8],
    entry: &UserEntry,
) -> Result<Vec<u8>, AuthError> {
    let mut user = parse(username, user_json)?;
    let id = user.get("id").and_then(Value::as_i64).unwrap_or(0);
    if settings.users_must_exist && id == 0 {
        return Err(AuthError::NotAllowed(
            "LDAP users not defined in SFTPGo are not allowed".into(),
        ));
    }
    let mapped = settings.prefixes.map(
        settings
            .group_attributes
            .iter()
            .flat_map(|attr| entry.values(attr))
            .chain(entry.nested_groups.iter().map(String::as_str)),
    );
    if settings.require_groups && mapped.groups.is_empty() {
        return Err(AuthError::NotAllowed(
            "users without group membership are not allowed".into(),
        ));
    }
    let role = if settings.prefixes.maps_role() {
        match mapped.roles.as_slice() {
            [] => Some(String::new()),
            [one] => Some(one.clone()),
            many => {
                return Err(AuthError::NotAllowed(format!(
                    "user {username:?} is in {} groups with the role prefix {:?} ({}): at most one is allowed",
                    many.len(),
                    settings.prefixes.role,
                    many.join(", ")
                )))
            }
        }
    } else {
        None
    };
    if !update_needed(settings, &user, id, &mapped.groups, role.as_deref()) {
        return Ok(Vec::new());
    }
    if id == 0 {
        user.insert("status".into(), json!(1));
        user.insert("permissions".into(), json!({"/": ["*"]}));
        if let Some(base) = &settings.base_dir {
            let name = user
                .get("username")
                .and_then(Value::as_str)
                .unwrap_or(username)
                .to_owned();
            if name.contains(['/', '\\']) || name == "." || name == ".." {
                return Err(AuthError::NotAllowed(format!(
                    "username {name:?} cannot name a directory under the users base dir"
                )));
            }
            user.insert(
                "home_dir".into(),
                json!(Path::new(base).join(name).to_string_lossy()),
            );
        }
    }
    let mut restrictions = web_client(&user);
    for restriction in WEB_CLIENT_RESTRICTIONS {
        restrictions.push(restriction.to_owned());
    }
    let mut seen = BTreeSet::new();
    restrictions.retain(|r| seen.insert(r.clone()));
    let filters = user
        .entry("filters")
        .or_insert_with(|| Value::Object(Map::new()));
    if !filters.is_object() {
        *filters = Value::Object(Map::new());
    }
    if let Value::Object(filters) = filters {
        filters.insert("web_client".into(), json!(restrictions));
    }
    user.insert("groups".into(), json!(mapped.groups));
    if let Some(role) = role {
        user.insert("role".into(), json!(role));
    }
    serde_json::to_vec(&Value::Object(user)).map_err(|err| AuthError::BadUser(err.to_string()))
}

/// The host's user, or a new one named `username` when the host sent
/// nothing.
fn parse(username: &str, user_json: &[u8]) -> Result<Map<String, Value>, AuthError> {
    if user_json.iter().all(u8::is_ascii_whitespace) {
        let mut user = Map::new();
        user.insert("username".into(), json!(username));
        return Ok(user);
    }
    match serde_json::from_slice::<Value>(user_json) {
        Ok(Value::Object(mut user)) => {
            if user
                .get("username")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                user.insert("username".into(), json!(username));
            }
            Ok(user)
        }
        Ok(_) => Err(AuthError::BadUser("not a JSON object".into())),
        Err(err) => Err(AuthError::BadUser(err.to_string())),
    }
}

/// The Go plugin's rule, plus the role: never with `users_must_exist`;
/// always for a new user, a user without a password hash or without both
/// WebClient restrictions; when groups are mapped and differ; when the
/// role is mapped and differs.
fn update_needed(
    settings: &Settings,
    user: &Map<String, Value>,
    id: i64,
    groups: &[GroupMapping],
    role: Option<&str>,
) -> bool {
    if settings.users_must_exist {
        return false;
    }
    if id == 0 {
        return true;
    }
    if user
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return true;
    }
    let restrictions = web_client(user);
    if WEB_CLIENT_RESTRICTIONS
        .iter()
        .any(|r| !restrictions.iter().any(|have| have == r))
    {
        return true;
    }
    if settings.prefixes.maps_groups() {
        let stored: BTreeSet<(String, i64)> = user
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| {
                Some((
                    g.get("name")?.as_str()?.to_owned(),
                    g.get("type")?.as_i64()?,
                ))
            })
            .collect();
        let mapped: BTreeSet<(String, i64)> =
            groups.iter().map(|g| (g.name.clone(), g.kind)).collect();
        if stored != mapped {
            return true;
        }
    }
    if let Some(role) = role {
        if user.get("role").and_then(Value::as_str).unwrap_or("") != role {
            return true;
        }
    }
    false
}

fn web_client(user: &Map<String, Value>) -> Vec<String> {
    user.get("filters")
        .and_then(|f| f.get("web_client"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Origin, RawSettings};

    fn settings(change: impl FnOnce(&mut RawSettings)) -> Settings {
        let mut raw = RawSettings {
            dial_urls: vec!["ldap://127.0.0.1:1".into()],
            base_dn: "dc=x".into(),
            bind_dn: "cn=a,dc=x".into(),
            search_query: "(uid=%username%)".into(),
            group_attributes: vec!["memberOf".into()],
            ..RawSettings::default()
        };
        change(&mut raw);
        raw.validate(Origin::Flags).unwrap()
    }

    fn entry(groups: &[&str]) -> UserEntry {
        UserEntry {
            dn: "uid=u,dc=x".into(),
            attributes: vec![(
                "memberOf".into(),
                groups.iter().map(|g| (*g).to_owned()).collect(),
            )],
            nested_groups: Vec::new(),
        }
    }

    fn decode(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    const EXISTING: &str = r#"{"id": 7, "username": "u", "password": "$2a$hash", "status": 1,
        "filters": {"web_client": ["password-change-disabled", "password-reset-disabled"], "denied_protocols": ["FTP"]},
        "groups": [{"name": "p_one", "type": 1}], "quota_size": 5}"#;

    #[test]
    fn a_new_user_gets_the_template() {
        let s = settings(|r| {
            r.base_dir = "/srv/sftp".into();
            r.primary_group_prefix = "p_".into();
            r.membership_group_prefix = "m_".into();
        });
        let out = answer(
            &s,
            "u",
            br#"{"id": 0, "username": "u"}"#,
            &entry(&["cn=P_One,dc=x", "cn=m_two,dc=x", "cn=zz,dc=x"]),
        )
        .unwrap();
        let user = decode(&out);
        assert_eq!(user["status"], 1);
        assert_eq!(user["home_dir"], "/srv/sftp/u");
        assert_eq!(user["permissions"], json!({"/": ["*"]}));
        assert_eq!(
            user["filters"]["web_client"],
            json!(WEB_CLIENT_RESTRICTIONS)
        );
        assert_eq!(
            user["groups"],
            json!([{"name": "p_one", "type": 1}, {"name": "m_two", "type": 3}])
        );
        assert!(user.get("password").is_none());
    }

    #[test]
    fn nothing_changed_is_an_empty_answer() {
        let s = settings(|r| r.primary_group_prefix = "p_".into());
        assert!(
            answer(&s, "u", EXISTING.as_bytes(), &entry(&["cn=p_one,dc=x"]))
                .unwrap()
                .is_empty()
        );
        // Another group: the user is updated, unknown fields kept.
        let out = answer(&s, "u", EXISTING.as_bytes(), &entry(&["cn=p_two,dc=x"])).unwrap();
        let user = decode(&out);
        assert_eq!(user["groups"], json!([{"name": "p_two", "type": 1}]));
        assert_eq!(user["quota_size"], 5);
        assert_eq!(user["filters"]["denied_protocols"], json!(["FTP"]));
        assert_eq!(user["id"], 7);
    }

    #[test]
    fn missing_hash_or_restrictions_update() {
        let s = settings(|_| {});
        let no_hash = EXISTING.replace("$2a$hash", "");
        assert!(!answer(&s, "u", no_hash.as_bytes(), &entry(&[]))
            .unwrap()
            .is_empty());
        let no_restriction = EXISTING.replace("\"password-reset-disabled\"", "\"other\"");
        let user = decode(&answer(&s, "u", no_restriction.as_bytes(), &entry(&[])).unwrap());
        assert_eq!(
            user["filters"]["web_client"],
            json!([
                "password-change-disabled",
                "other",
                "password-reset-disabled"
            ])
        );
        // No prefixes: groups are not compared.
        assert!(answer(&s, "u", EXISTING.as_bytes(), &entry(&[]))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn requirements_and_required_groups() {
        let s = settings(|r| r.sftpgo_user_requirements = 1);
        let err = answer(&s, "u", br#"{"id": 0, "username": "u"}"#, &entry(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "LDAP users not defined in SFTPGo are not allowed"
        );
        let no_hash = EXISTING.replace("$2a$hash", "");
        assert!(answer(&s, "u", no_hash.as_bytes(), &entry(&[]))
            .unwrap()
            .is_empty());
        let s = settings(|r| {
            r.require_groups = true;
            r.secondary_group_prefix = "s_".into();
        });
        let err = answer(&s, "u", EXISTING.as_bytes(), &entry(&["cn=x,dc=x"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "users without group membership are not allowed"
        );
    }

    #[test]
    fn the_role_is_the_one_matching_group() {
        let s = settings(|r| r.role_group_prefix = "role_".into());
        let user =
            decode(&answer(&s, "u", EXISTING.as_bytes(), &entry(&["cn=role_ops,dc=x"])).unwrap());
        assert_eq!(user["role"], "role_ops");
        let with_role = EXISTING.replace("\"status\"", "\"role\": \"role_ops\", \"status\"");
        assert!(
            answer(&s, "u", with_role.as_bytes(), &entry(&["cn=role_ops,dc=x"]))
                .unwrap()
                .is_empty()
        );
        let err = answer(
            &s,
            "u",
            EXISTING.as_bytes(),
            &entry(&["cn=role_a,dc=x", "cn=role_b,dc=x"]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("2 groups with the role prefix"),
            "{err}"
        );
    }

    #[test]
    fn nested_groups_join_the_mapping() {
        let s = settings(|r| r.membership_group_prefix = "m_".into());
        let mut e = entry(&["cn=m_direct,dc=x"]);
        e.nested_groups = vec!["CN=M_Outer,OU=Groups,DC=x".into(), "cn=other,dc=x".into()];
        let user = decode(&answer(&s, "u", b"", &e).unwrap());
        assert_eq!(
            user["groups"],
            json!([{"name": "m_direct", "type": 3}, {"name": "m_outer", "type": 3}])
        );
    }

    #[test]
    fn a_username_cannot_leave_the_base_dir() {
        let s = settings(|r| r.base_dir = "/srv".into());
        for name in ["../etc", "a/b", ".."] {
            let json = format!(r#"{{"id": 0, "username": "{name}"}}"#);
            assert!(matches!(
                answer(&s, name, json.as_bytes(), &entry(&[])),
                Err(AuthError::NotAllowed(_))
            ));
        }
    }

    #[test]
    fn bad_host_json() {
        let s = settings(|_| {});
        assert!(matches!(
            answer(&s, "u", b"[1]", &entry(&[])),
            Err(AuthError::BadUser(_))
        ));
        assert!(matches!(
            answer(&s, "u", b"{", &entry(&[])),
            Err(AuthError::BadUser(_))
        ));
        let user = decode(&answer(&s, "u", b"", &entry(&[])).unwrap());
        assert_eq!(user["username"], "u");
    }
}
