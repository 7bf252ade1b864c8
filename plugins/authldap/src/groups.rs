//! Group and role mapping: the values of the group attributes (group DNs)
//! become SFTPGo group mappings by the prefix of their name: primary (type
//! 1), secondary (type 2), membership (type 3), checked in that order, and
//! the role (plugin 1.2.0): the one group whose name has the role prefix.
//! A group's name is the value of the DN's first RDN, lower-cased.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// SFTPGo's group types.
pub const PRIMARY: i64 = 1;
pub const SECONDARY: i64 = 2;
pub const MEMBERSHIP: i64 = 3;

/// One SFTPGo group mapping, as in the SDK's user JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupMapping {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: i64,
}

/// The configured prefixes, lower-cased; empty means "not used".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefixes {
    pub primary: String,
    pub secondary: String,
    pub membership: String,
    pub role: String,
}

/// A prefix and which mapping it is for (`primary`, ..., `role`).
pub type KindPrefix<'a> = (&'static str, &'a str);

/// What a user's groups map to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapped {
    /// Deduplicated, in a stable order.
    pub groups: Vec<GroupMapping>,
    /// Every group name that matched the role prefix.
    pub roles: Vec<String>,
}

impl Prefixes {
    pub fn new(primary: &str, secondary: &str, membership: &str, role: &str) -> Self {
        let clean = |p: &str| p.trim().to_lowercase();
        Prefixes {
            primary: clean(primary),
            secondary: clean(secondary),
            membership: clean(membership),
            role: clean(role),
        }
    }

    /// Any of primary, secondary, membership set.
    pub fn maps_groups(&self) -> bool {
        !(self.primary.is_empty() && self.secondary.is_empty() && self.membership.is_empty())
    }

    pub fn maps_role(&self) -> bool {
        !self.role.is_empty()
    }

    pub fn maps_anything(&self) -> bool {
        self.maps_groups() || self.maps_role()
    }

    /// Two prefixes where one starts with the other (equal ones included):
    /// a group could then match both. Returns the two as (kind, prefix).
    pub fn overlap(&self) -> Option<(KindPrefix<'_>, KindPrefix<'_>)> {
        let all = [
            ("primary", self.primary.as_str()),
            ("secondary", self.secondary.as_str()),
            ("membership", self.membership.as_str()),
            ("role", self.role.as_str()),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                if a.1.is_empty() || b.1.is_empty() {
                    continue;
                }
                if a.1.starts_with(b.1) || b.1.starts_with(a.1) {
                    return Some((*a, *b));
                }
            }
        }
        None
    }

    /// Maps group DNs to SFTPGo groups and role candidates.
    pub fn map<'a>(&self, group_dns: impl IntoIterator<Item = &'a str>) -> Mapped {
        let mut groups = BTreeSet::new();
        let mut roles = BTreeSet::new();
        for dn in group_dns {
            let Some(name) = group_name(dn) else { continue };
            let has = |prefix: &str| !prefix.is_empty() && name.starts_with(prefix);
            if has(&self.primary) {
                groups.insert(GroupMapping {
                    name,
                    kind: PRIMARY,
                });
            } else if has(&self.secondary) {
                groups.insert(GroupMapping {
                    name,
                    kind: SECONDARY,
                });
            } else if has(&self.membership) {
                groups.insert(GroupMapping {
                    name,
                    kind: MEMBERSHIP,
                });
            } else if has(&self.role) {
                roles.insert(name);
            }
        }
        let mut groups: Vec<GroupMapping> = groups.into_iter().collect();
        // Primary first, then secondary, then membership; by name within.
        groups.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        Mapped {
            groups,
            roles: roles.into_iter().collect(),
        }
    }
}

/// The group name of a DN: the first RDN (up to the first unescaped `,`),
/// lower-cased; for `key=value` the trimmed value. `None` for an empty DN.
pub fn group_name(dn: &str) -> Option<String> {
    let first = first_rdn(dn).trim();
    if first.is_empty() {
        return None;
    }
    let value = match first.split_once('=') {
        Some((_, value)) => value.trim(),
        None => first,
    };
    let value = unescape_dn_value(value).to_lowercase();
    (!value.is_empty()).then_some(value)
}

/// The text before the first `,` that is not escaped with `\`.
fn first_rdn(dn: &str) -> &str {
    let mut escaped = false;
    for (i, c) in dn.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            ',' if !escaped => return &dn[..i],
            _ => escaped = false,
        }
    }
    dn
}

/// RFC 4514 `\,` style escapes removed (hex pairs are left as written).
fn unescape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next) if ",+\"\\<>;= #".contains(next) => out.push(next),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_first_rdn() {
        assert_eq!(
            group_name("CN=SFTPGo_Primary1,OU=Groups,DC=x").as_deref(),
            Some("sftpgo_primary1")
        );
        assert_eq!(group_name("ou= Team A ,dc=x").as_deref(), Some("team a"));
        assert_eq!(group_name("cn=a\\,b,dc=x").as_deref(), Some("a,b"));
        assert_eq!(group_name("PlainName").as_deref(), Some("plainname"));
        assert_eq!(group_name(""), None);
        assert_eq!(group_name("cn=,dc=x"), None);
    }

    #[test]
    fn prefixes_map_in_priority_order() {
        let p = Prefixes::new("SFTPGo_P", "sftpgo_s", "sftpgo_m", "role_");
        let mapped = p.map([
            "cn=sftpgo_m1,dc=x",
            "cn=sftpgo_p1,dc=x",
            "cn=other,dc=x",
            "cn=sftpgo_s1,dc=x",
            "cn=SFTPGO_P1,ou=dup,dc=x",
            "cn=role_admin,dc=x",
        ]);
        let names: Vec<(&str, i64)> = mapped
            .groups
            .iter()
            .map(|g| (g.name.as_str(), g.kind))
            .collect();
        assert_eq!(
            names,
            [("sftpgo_p1", 1), ("sftpgo_s1", 2), ("sftpgo_m1", 3)]
        );
        assert_eq!(mapped.roles, ["role_admin"]);
    }

    #[test]
    fn overlapping_prefixes_are_found() {
        assert!(Prefixes::new("a_", "b_", "c_", "r_").overlap().is_none());
        assert!(Prefixes::new("sftpgo", "sftpgo_sec", "", "")
            .overlap()
            .is_some());
        assert!(Prefixes::new("x", "", "", "X").overlap().is_some());
        assert!(Prefixes::new("", "", "", "").overlap().is_none());
    }
}
