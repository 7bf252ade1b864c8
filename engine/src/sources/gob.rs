//! Reads the gob stream Go CDK's NATS driver (v0.46) publishes without
//! `natsv2`: one fresh encoder writes `map[string]string` (the metadata),
//! then `[]byte` (the body). `plexus-pubsub` writes the same bytes.
//!
//! Only that shape is accepted: a type definition for a map of strings to
//! strings, its value, then a byte slice, and nothing after. Anything else
//! is an error saying where it went wrong, never a panic: the bytes come
//! from whoever can publish on the stream.

/// gob's predefined ids for `[]byte` and `string`.
const BYTES_TYPE_ID: i64 = 5;
const STRING_TYPE_ID: i64 = 6;

/// What a gob-wrapped message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GobMessage {
    pub metadata: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A cursor over untrusted bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| format!("gob: truncated at byte {}", self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "gob: {n} bytes announced at byte {}, {} left",
                    self.at,
                    self.bytes.len() - self.at
                )
            })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    /// gob's unsigned integer: a byte below 128, or the negated byte count
    /// followed by that many big-endian bytes.
    fn uint(&mut self) -> Result<u64, String> {
        let first = self.byte()?;
        if first < 0x80 {
            return Ok(u64::from(first));
        }
        let len = first.wrapping_neg() as usize;
        if len == 0 || len > 8 {
            return Err(format!("gob: bad integer length byte {first:#04x}"));
        }
        Ok(self
            .take(len)?
            .iter()
            .fold(0u64, |n, b| (n << 8) | u64::from(*b)))
    }

    /// gob's signed integer: the sign in the lowest bit.
    fn int(&mut self) -> Result<i64, String> {
        let folded = self.uint()?;
        Ok(if folded & 1 == 1 {
            !(folded >> 1) as i64
        } else {
            (folded >> 1) as i64
        })
    }

    fn len(&mut self) -> Result<usize, String> {
        usize::try_from(self.uint()?).map_err(|_| "gob: length too large".to_owned())
    }

    fn bytes_value(&mut self) -> Result<&'a [u8], String> {
        let n = self.len()?;
        self.take(n)
    }

    /// One length-prefixed gob message, as its own reader.
    fn message(&mut self) -> Result<Reader<'a>, String> {
        let n = self.len()?;
        Ok(Reader {
            bytes: self.take(n)?,
            at: 0,
        })
    }

    fn expect(&mut self, wanted: u8, what: &str) -> Result<(), String> {
        let got = self.byte()?;
        if got == wanted {
            Ok(())
        } else {
            Err(format!("gob: expected {what}, found {got:#04x}"))
        }
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// Reads the type definition of `map[string]string`; returns its id.
fn map_type(message: &mut Reader) -> Result<i64, String> {
    let id = -message.int()?;
    if id < 65 {
        return Err(format!(
            "gob: expected a type definition, found type id {}",
            -id
        ));
    }
    message.expect(4, "a map type (wireType field MapT)")?;
    message.expect(1, "the map's CommonType")?;
    // CommonType: an optional Name (field 1), then Id (field 2).
    let mut delta = message.byte()?;
    if delta == 1 {
        let _name = message.bytes_value()?;
        delta = message.byte()?;
        if delta != 1 {
            return Err("gob: expected the CommonType id after its name".into());
        }
    } else if delta != 2 {
        return Err(format!("gob: unexpected CommonType field delta {delta}"));
    }
    if message.int()? != id {
        return Err("gob: the map type's id does not match its definition".into());
    }
    message.expect(0, "the end of CommonType")?;
    message.expect(1, "the map's key type")?;
    if message.int()? != STRING_TYPE_ID {
        return Err("gob: the metadata map's keys are not strings".into());
    }
    message.expect(1, "the map's element type")?;
    if message.int()? != STRING_TYPE_ID {
        return Err("gob: the metadata map's values are not strings".into());
    }
    message.expect(0, "the end of the map type")?;
    message.expect(0, "the end of the type definition")?;
    if !message.done() {
        return Err("gob: extra bytes after the map type".into());
    }
    Ok(id)
}

fn text(bytes: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("gob: a metadata {what} is not UTF-8"))
}

/// Decodes Go CDK's gob-wrapped message.
pub fn decode(bytes: &[u8]) -> Result<GobMessage, String> {
    let mut stream = Reader { bytes, at: 0 };
    let map_id = map_type(&mut stream.message()?)?;

    let mut value = stream.message()?;
    if value.int()? != map_id {
        return Err("gob: expected the metadata map after its type".into());
    }
    value.expect(0, "a singleton value")?;
    let count = value.len()?;
    // Each pair takes at least two bytes: a bound before allocating.
    if count > value.bytes.len() / 2 {
        return Err(format!("gob: {count} metadata entries cannot fit"));
    }
    let mut metadata = Vec::with_capacity(count);
    for _ in 0..count {
        let key = text(value.bytes_value()?, "key")?;
        let val = text(value.bytes_value()?, "value")?;
        metadata.push((key, val));
    }
    if !value.done() {
        return Err("gob: extra bytes after the metadata map".into());
    }

    let mut content = stream.message()?;
    if content.int()? != BYTES_TYPE_ID {
        return Err("gob: expected the body ([]byte) after the metadata".into());
    }
    content.expect(0, "a singleton value")?;
    let body = content.bytes_value()?.to_vec();
    if !content.done() || !stream.done() {
        return Err("gob: extra bytes after the body".into());
    }
    Ok(GobMessage { metadata, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("hex"))
            .collect()
    }

    /// The vector Go 1.19's encoding/gob produced for metadata
    /// `{"action":"upload"}` and body `{"a":1}` (shared spec, §13).
    const GO_GOLDEN: &str = "0e ff 81 04 01 02 ff 82 00 01 0c 01 0c 00 00 12 ff 82 00 01 06 61 63 \
         74 69 6f 6e 06 75 70 6c 6f 61 64 0a 0a 00 07 7b 22 61 22 3a 31 7d";

    #[test]
    fn decodes_the_go_golden_vector() {
        let decoded = decode(&hex(GO_GOLDEN)).expect("decode");
        assert_eq!(
            decoded,
            GobMessage {
                metadata: vec![("action".into(), "upload".into())],
                body: br#"{"a":1}"#.to_vec(),
            }
        );
    }

    #[test]
    fn multi_byte_lengths() {
        let mut reader = Reader {
            bytes: &hex("7f ff 80 fe 01 00 fd 01 11 70"),
            at: 0,
        };
        for expected in [127, 128, 256, 70_000] {
            assert_eq!(reader.uint().expect("uint"), expected);
        }
    }

    #[test]
    fn every_truncation_and_flip_is_an_error_not_a_panic() {
        let golden = hex(GO_GOLDEN);
        for cut in 0..golden.len() {
            assert!(decode(&golden[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..golden.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bytes = golden.clone();
                bytes[at] ^= flip;
                let _ = decode(&bytes);
            }
        }
        let mut longer = golden.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        assert!(decode(br#"{"a":1}"#).is_err());
    }
}
