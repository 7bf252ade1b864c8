//! RFC 4515 escaping of the username put into the search filter, so a
//! username such as `*` or `a)(uid=*` cannot widen the search. Bytes outside
//! printable ASCII are escaped as well, as go-ldap's `EscapeFilter` does.

/// The username with `( ) * \` NUL and every byte outside 0x01..=0x7f
/// written as `\xx` (two lower-case hex digits).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'(' | b')' | b'*' | b'\\' | 0 | 0x80..=0xff => {
                out.push('\\');
                out.push(hex_digit(byte >> 4));
                out.push(hex_digit(byte & 0x0f));
            }
            _ => out.push(char::from(byte)),
        }
    }
    out
}

/// The search query with every `%username%` replaced by the escaped username.
pub fn user_filter(query: &str, username: &str) -> String {
    query.replace(crate::settings::USERNAME_PLACEHOLDER, &escape(username))
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(escape("alice"), "alice");
        assert_eq!(escape("a*"), "a\\2a");
        assert_eq!(escape("a)(uid=*"), "a\\29\\28uid=\\2a");
        assert_eq!(escape("back\\slash"), "back\\5cslash");
        assert_eq!(escape("nul\0"), "nul\\00");
        assert_eq!(escape("é"), "\\c3\\a9");
    }

    #[test]
    fn every_placeholder_is_replaced() {
        assert_eq!(
            user_filter("(|(uid=%username%)(mail=%username%))", "b*"),
            "(|(uid=b\\2a)(mail=b\\2a))"
        );
    }
}
