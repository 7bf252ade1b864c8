//! The INI dialect of the AWS shared config and credentials files, read
//! by the rules of aws-sdk-go-v2's `config/internal/ini`, so that a file
//! the Go plugins accept reads the same here:
//!
//! - lines are split on `\n`; blank lines and lines whose first non-blank
//!   character is `#` or `;` are comments;
//! - `[type name]` opens a section: the brackets and the blanks inside are
//!   trimmed, a run of blanks between type and name becomes one space, and
//!   `#` or `;` anywhere on the line starts a comment; names keep their
//!   case; a section opened twice continues the first;
//! - `key = value` (or `key: value` when the `:` comes first) at the start
//!   of a line is a property: the key is lower-cased, key and value are
//!   trimmed, ` #`, ` ;`, `\t#` or `\t;` start a comment, and one pair of
//!   matching quotes around the value is removed; a later value replaces
//!   an earlier one;
//! - an indented `key = value` under a property with an empty value is a
//!   sub-property (the `services` sections use them); anywhere else it is
//!   a property of its own;
//! - other indented lines continue the previous non-empty value (joined
//!   with `\n`);
//! - properties before the first section, and lines of no known shape,
//!   are ignored.
//!
//! Nothing here fails: like the SDK, the reader is lenient, and what a
//! value means is checked where it is used.

use std::collections::BTreeMap;

/// One property value: text, or the sub-properties of an empty property.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Value {
    pub text: String,
    pub map: Option<BTreeMap<String, String>>,
}

/// A section: its name (`profile dev`, `default`, `services s`) and its
/// properties, keys lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub values: BTreeMap<String, Value>,
}

impl Section {
    /// The text of `key`, when the key is present (even empty).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|v| v.text.as_str())
    }

    /// The sub-properties of `key`, when it has some.
    pub fn map(&self, key: &str) -> Option<&BTreeMap<String, String>> {
        self.values.get(key).and_then(|v| v.map.as_ref())
    }
}

/// The sections of one file, in the order they first appear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    pub sections: Vec<Section>,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_comment(line: &str) -> bool {
    let trimmed = line.trim_start_matches(is_blank);
    trimmed.starts_with('#') || trimmed.starts_with(';')
}

fn cut<'a>(text: &'a str, pattern: &str) -> &'a str {
    text.split_once(pattern).map_or(text, |(before, _)| before)
}

/// The property text without a trailing comment.
fn without_property_comment(text: &str) -> &str {
    let text = cut(text, " #");
    let text = cut(text, " ;");
    let text = cut(text, "\t#");
    cut(text, "\t;")
}

/// `key=value` or `key:value`, trimmed.
fn split_property(text: &str) -> Option<(&str, &str)> {
    let equals = text.find('=');
    let colon = text.find(':');
    let at = match (equals, colon) {
        (None, None) => return None,
        (Some(e), Some(c)) => e.min(c),
        (Some(e), None) => e,
        (None, Some(c)) => c,
    };
    Some((text[..at].trim(), text[at + 1..].trim()))
}

/// One pair of matching quotes removed.
fn unquote(value: &str) -> &str {
    let quoted = value.len() >= 2
        && ((value.starts_with('"') && value.ends_with('"'))
            || (value.starts_with('\'') && value.ends_with('\'')));
    if quoted {
        &value[1..value.len() - 1]
    } else {
        value
    }
}

/// `[type name]` as the section name `type name` (or `name`).
fn section_name(line: &str) -> Option<String> {
    let trimmed = cut(cut(line, "#"), ";").trim();
    let inner = trimmed.strip_prefix('[')?.strip_suffix(']')?.trim();
    match inner.find(is_blank) {
        Some(at) => {
            let (kind, rest) = inner.split_at(at);
            Some(format!("{kind} {}", rest.trim_start_matches(is_blank)))
        }
        None => Some(inner.to_owned()),
    }
}

struct Parser {
    ini: Ini,
    section: Option<usize>,
    key: Option<String>,
}

impl Parser {
    fn open(&mut self, name: String) {
        self.key = None;
        let index = match self.ini.sections.iter().position(|s| s.name == name) {
            Some(index) => index,
            None => {
                self.ini.sections.push(Section {
                    name,
                    values: BTreeMap::new(),
                });
                self.ini.sections.len() - 1
            }
        };
        self.section = Some(index);
    }

    fn current(&mut self) -> Option<&mut Section> {
        self.section.and_then(|i| self.ini.sections.get_mut(i))
    }

    fn property(&mut self, key: String, value: String) {
        let Some(section) = self.current() else {
            return;
        };
        section.values.insert(
            key.clone(),
            Value {
                text: value,
                map: None,
            },
        );
        self.key = Some(key);
    }

    fn sub_property(&mut self, key: String, value: &str) {
        let parent = self.key.clone();
        let Some(section) = self.current() else {
            return;
        };
        match parent.and_then(|p| section.values.get_mut(&p)) {
            Some(parent) if parent.text.is_empty() => {
                parent
                    .map
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key, value.to_owned());
            }
            _ => {
                let value = without_property_comment(value).trim().to_owned();
                self.property(key, value);
            }
        }
    }

    fn continuation(&mut self, text: &str) {
        let Some(key) = self.key.clone() else {
            return;
        };
        let Some(section) = self.current() else {
            return;
        };
        if let Some(value) = section.values.get_mut(&key) {
            if !value.text.is_empty() && value.map.is_none() {
                value.text.push('\n');
                value.text.push_str(text);
            }
        }
    }
}

/// Reads a whole file's text.
pub fn parse(text: &str) -> Ini {
    let mut parser = Parser {
        ini: Ini::default(),
        section: None,
        key: None,
    };
    for line in text.split('\n') {
        if line.trim().is_empty() || is_comment(line) {
            continue;
        }
        if let Some(name) = section_name(line) {
            parser.open(name);
            continue;
        }
        let indented = line.starts_with(is_blank);
        if !indented {
            let text = without_property_comment(line).trim_end_matches(is_blank);
            if let Some((key, value)) = split_property(text) {
                parser.property(key.to_lowercase(), unquote(value).to_owned());
            }
            continue;
        }
        let text = line.trim_start_matches(is_blank);
        match split_property(text) {
            Some((key, value)) => parser.sub_property(key.to_lowercase(), unquote(value)),
            None => parser.continuation(text),
        }
    }
    parser.ini
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section<'a>(ini: &'a Ini, name: &str) -> &'a Section {
        ini.sections
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no section {name:?} in {ini:?}"))
    }

    #[test]
    fn sections_and_properties() {
        let ini = parse(
            "# a comment\n\
             ; another\n\
             ignored = before any section\n\
             [default]\n\
             aws_access_key_id = AKID\n\
             AWS_Secret_Access_Key=secret\n\
             \n\
             [ profile   dev ] # comment\n\
             region: eu-west-1\n\
             role_arn = arn:aws:iam::1:role/r ; trailing comment\n\
             source_profile = default\t# tab comment\n",
        );
        assert_eq!(
            ini.sections
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["default", "profile dev"]
        );
        let default = section(&ini, "default");
        assert_eq!(default.get("aws_access_key_id"), Some("AKID"));
        assert_eq!(
            default.get("aws_secret_access_key"),
            Some("secret"),
            "keys lower-cased"
        );
        assert_eq!(default.get("ignored"), None);
        let dev = section(&ini, "profile dev");
        assert_eq!(dev.get("region"), Some("eu-west-1"));
        assert_eq!(dev.get("role_arn"), Some("arn:aws:iam::1:role/r"));
        assert_eq!(dev.get("source_profile"), Some("default"));
    }

    #[test]
    fn comments_need_a_blank_before_them_in_values() {
        let ini = parse("[p]\na = x#y\nb = x;y\nc = x #y\nd = 'q'\ne = \"w\"\nf = '\ng =\n");
        let p = section(&ini, "p");
        assert_eq!(p.get("a"), Some("x#y"));
        assert_eq!(p.get("b"), Some("x;y"));
        assert_eq!(p.get("c"), Some("x"));
        assert_eq!(p.get("d"), Some("q"), "quotes removed");
        assert_eq!(p.get("e"), Some("w"));
        assert_eq!(p.get("f"), Some("'"), "a lone quote stays");
        assert_eq!(p.get("g"), Some(""), "present, empty");
    }

    #[test]
    fn separator_is_the_first_of_equals_and_colon() {
        let ini = parse("[p]\nurl = http://h:1\nk: v=w\n");
        let p = section(&ini, "p");
        assert_eq!(p.get("url"), Some("http://h:1"));
        assert_eq!(p.get("k"), Some("v=w"));
    }

    #[test]
    fn repeated_sections_and_keys_merge() {
        let ini = parse("[p]\na = 1\nb = 2\n[q]\n[p]\na = 3\n");
        assert_eq!(ini.sections.len(), 2);
        let p = section(&ini, "p");
        assert_eq!((p.get("a"), p.get("b")), (Some("3"), Some("2")));
    }

    #[test]
    fn sub_properties_and_continuations() {
        let ini = parse(
            "[services s]\n\
             sqs =\n  endpoint_url = http://127.0.0.1:4566\n  Region = x # kept\n\
             kms = set\n  endpoint_url = promoted\n\
             [p]\n\
             long = first\n  second line\n\tthird\n",
        );
        let s = section(&ini, "services s");
        let sqs = s.map("sqs").expect("sub-properties");
        assert_eq!(
            sqs.get("endpoint_url").map(String::as_str),
            Some("http://127.0.0.1:4566")
        );
        assert_eq!(sqs.get("region").map(String::as_str), Some("x # kept"));
        assert_eq!(s.get("kms"), Some("set"));
        assert_eq!(s.get("endpoint_url"), Some("promoted"));
        assert_eq!(
            section(&ini, "p").get("long"),
            Some("first\nsecond line\nthird")
        );
    }

    #[test]
    fn windows_line_ends_and_odd_lines() {
        let ini = parse("[p]\r\na = 1\r\nno separator here\r\n  \r\n[broken\r\nb = 2\r\n");
        let p = section(&ini, "p");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(
            p.get("b"),
            Some("2"),
            "a line that is not a section is skipped"
        );
    }

    #[test]
    fn section_names_keep_case_and_may_hold_spaces() {
        let ini = parse("[profile My Profile]\n[Default]\n");
        assert!(ini.sections.iter().any(|s| s.name == "profile My Profile"));
        assert!(ini.sections.iter().any(|s| s.name == "Default"));
    }
}
