//! JSON text exactly as Go's `encoding/json` writes it (Go 1.22 and later).
//!
//! The Go plugin marshals its structs with `json.Marshal`, which escapes
//! `<`, `>`, `&`, U+2028 and U+2029, writes `\b` and `\f` short forms, and
//! sorts map keys. serde_json does none of the first three, so a consumer
//! that compares bytes (or a signature over them) would see a difference.
//! This writer appends to a byte buffer; field order and omission are the
//! caller's business (see `message.rs`).

/// Appends `s` as a Go JSON string, quotes included.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            let escape: Option<&[u8]> = match b {
                b'"' => Some(b"\\\""),
                b'\\' => Some(b"\\\\"),
                b'\n' => Some(b"\\n"),
                b'\r' => Some(b"\\r"),
                b'\t' => Some(b"\\t"),
                0x08 => Some(b"\\b"),
                0x0c => Some(b"\\f"),
                b'<' | b'>' | b'&' => None,
                0x00..=0x1f => None,
                _ => {
                    i += 1;
                    continue;
                }
            };
            out.extend_from_slice(&bytes[start..i]);
            match escape {
                Some(text) => out.extend_from_slice(text),
                None => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 0xf) as usize]);
                }
            }
            i += 1;
            start = i;
            continue;
        }
        // U+2028 and U+2029 are E2 80 A8 / E2 80 A9 in UTF-8.
        if b == 0xe2 && bytes.get(i + 1) == Some(&0x80) {
            if let Some(&last) = bytes.get(i + 2) {
                if last == 0xa8 || last == 0xa9 {
                    out.extend_from_slice(&bytes[start..i]);
                    out.extend_from_slice(if last == 0xa8 { b"\\u2028" } else { b"\\u2029" });
                    i += 3;
                    start = i;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes one JSON object, field by field, with Go's `omitempty` rules
/// left to the caller: each `field` call adds a key and a value.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        push_str(self.out, key);
        self.out.push(b':');
    }

    pub fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        push_str(self.out, value);
    }

    /// A string with `omitempty`: nothing when empty.
    pub fn str_opt(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.str(key, value);
        }
    }

    pub fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        self.out.extend_from_slice(value.to_string().as_bytes());
    }

    /// A number with `omitempty`: nothing when zero.
    pub fn int_opt(&mut self, key: &str, value: i64) {
        if value != 0 {
            self.int(key, value);
        }
    }

    /// A value already encoded as JSON (`null`, a quoted string...).
    pub fn raw(&mut self, key: &str, json: &[u8]) {
        self.key(key);
        self.out.extend_from_slice(json);
    }

    /// A `map[string]string` with `omitempty`: keys sorted bytewise, as
    /// Go sorts them; nothing when the map is empty.
    pub fn string_map_opt<'m, I>(&mut self, key: &str, entries: I)
    where
        I: IntoIterator<Item = (&'m String, &'m String)>,
    {
        let mut sorted: Vec<_> = entries.into_iter().collect();
        if sorted.is_empty() {
            return;
        }
        sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.key(key);
        self.out.push(b'{');
        for (n, (k, v)) in sorted.into_iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            push_str(self.out, k);
            self.out.push(b':');
            push_str(self.out, v);
        }
        self.out.push(b'}');
    }

    pub fn finish(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    // Expected values written by hand from Go's encoding/json rules.
    #[test]
    fn escapes_as_go_does() {
        assert_eq!(quoted("plain/path.txt"), r#""plain/path.txt""#);
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quoted("<a>&b"), r#""\u003ca\u003e\u0026b""#);
        assert_eq!(quoted("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(quoted("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(quoted("x\u{2028}y\u{2029}z"), r#""x\u2028y\u2029z""#);
        assert_eq!(quoted("é€😀"), "\"é€😀\"");
    }
}
