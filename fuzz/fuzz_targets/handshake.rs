//! Fuzzes the go-plugin handshake line, the first thing the host reads from
//! a plugin's stdout: `HandshakeLine::parse` must never panic, its errors
//! must render, and a line it accepts must print back (`format`) to a line
//! that parses to the same value.
#![no_main]

use plexus_proto::HandshakeLine;

/// go-plugin ignores a certificate field of at most this many characters.
const MIN_CERT_FIELD_LEN: usize = 50;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match HandshakeLine::parse(&text) {
        Ok(line) => {
            let printed = line.format();
            let cert_field = printed.split('|').nth(5).unwrap_or_default();
            if line.server_cert.is_some() && cert_field.len() <= MIN_CERT_FIELD_LEN {
                // Too short to print back as a certificate (a padded or
                // tiny certificate): go-plugin would drop it too.
                return;
            }
            let again = HandshakeLine::parse(&printed)
                .unwrap_or_else(|err| panic!("{printed:?} does not parse back: {err}"));
            assert_eq!(again, line, "{printed:?}");
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
