//! Go's `encoding/gob` stream for a NATS message without `natsv2`.
//!
//! Go CDK's NATS driver (v0.46) sends one gob stream from a fresh encoder:
//! `Encode(map[string]string)` for the metadata, then `Encode([]byte)` for
//! the body; with no metadata it sends the raw body. Only those two types
//! are needed, so this writes them directly: a type definition for the map
//! (the first user type id, 65), the map value, then the byte slice (the
//! predefined type id 5). A Go CDK subscriber decodes the result.

/// Gob's unsigned integer: one byte below 128, else the byte count negated
/// followed by the big-endian bytes.
fn push_uint(out: &mut Vec<u8>, value: u64) {
    if value < 128 {
        out.push(value as u8);
        return;
    }
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let len = bytes.len() - skip;
    out.push((len as u8).wrapping_neg());
    out.extend_from_slice(&bytes[skip..]);
}

/// Gob's signed integer: zigzag-like, the sign in the lowest bit.
fn push_int(out: &mut Vec<u8>, value: i64) {
    let folded = if value < 0 {
        (!(value as u64) << 1) | 1
    } else {
        (value as u64) << 1
    };
    push_uint(out, folded);
}

fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    push_uint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One gob message: its length, then its content.
fn push_message(out: &mut Vec<u8>, content: &[u8]) {
    push_uint(out, content.len() as u64);
    out.extend_from_slice(content);
}

/// The first type id an encoder assigns to a user type.
const MAP_TYPE_ID: i64 = 65;
/// gob's predefined ids for `[]byte` and `string`.
const BYTES_TYPE_ID: i64 = 5;
const STRING_TYPE_ID: i64 = 6;

/// The wire form Go CDK sends for `metadata` and `body` (metadata entries
/// in the given order; Go writes a map in random order and decoders accept
/// any). Empty metadata: the raw body.
pub fn encode(metadata: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    if metadata.is_empty() {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len() + 64);

    // Type definition: -id, then wireType{MapT: mapType{CommonType{Id}, Key, Elem}}.
    let mut def = Vec::with_capacity(16);
    push_int(&mut def, -MAP_TYPE_ID);
    def.push(4); // wireType field delta 4: MapT
    def.push(1); // mapType field delta 1: CommonType
    def.push(2); // CommonType field delta 2: Id (Name is empty, omitted)
    push_int(&mut def, MAP_TYPE_ID);
    def.push(0); // end of CommonType
    def.push(1); // Key
    push_int(&mut def, STRING_TYPE_ID);
    def.push(1); // Elem
    push_int(&mut def, STRING_TYPE_ID);
    def.push(0); // end of mapType
    def.push(0); // end of wireType
    push_message(&mut out, &def);

    // The map value: id, singleton delta 0, count, key/value pairs.
    let mut value = Vec::with_capacity(64);
    push_int(&mut value, MAP_TYPE_ID);
    value.push(0);
    push_uint(&mut value, metadata.len() as u64);
    for (k, v) in metadata {
        push_bytes(&mut value, k.as_bytes());
        push_bytes(&mut value, v.as_bytes());
    }
    push_message(&mut out, &value);

    // The body: id 5 ([]byte), delta 0, length, bytes.
    let mut content = Vec::with_capacity(body.len() + 12);
    push_int(&mut content, BYTES_TYPE_ID);
    content.push(0);
    push_bytes(&mut content, body);
    push_message(&mut out, &content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    /// The vector Go 1.19's encoding/gob produced (shared/spec §13).
    #[test]
    fn matches_the_go_golden_vector() {
        let expected = hex(
            "0e ff 81 04 01 02 ff 82 00 01 0c 01 0c 00 00 12 ff 82 00 01 06 61 63 74 69 6f 6e \
             06 75 70 6c 6f 61 64 0a 0a 00 07 7b 22 61 22 3a 31 7d",
        );
        assert_eq!(encode(&[("action", "upload")], br#"{"a":1}"#), expected);
    }

    #[test]
    fn no_metadata_is_the_raw_body() {
        assert_eq!(encode(&[], b"{}"), b"{}");
    }

    #[test]
    fn long_values_use_multi_byte_lengths() {
        let mut out = Vec::new();
        push_uint(&mut out, 127);
        push_uint(&mut out, 128);
        push_uint(&mut out, 256);
        push_uint(&mut out, 70_000);
        assert_eq!(out, hex("7f ff 80 fe 01 00 fd 01 11 70"));
        let body = vec![b'x'; 300];
        let encoded = encode(&[("action", "upload")], &body);
        // Body message: length 305 = fe 01 31; id 0a; delta 00; len 300 = fe 01 2c.
        let tail = &encoded[encoded.len() - 300 - 8..encoded.len() - 300];
        assert_eq!(tail, hex("fe 01 31 0a 00 fe 01 2c").as_slice());
    }
}
