//! What the fuzz targets share: the small input formats that turn one byte
//! string from libFuzzer into a structured input (config text and
//! environment pairs; segment files of a write-ahead log), and their
//! inverses, used to write the seeds of the corpora from data the real code
//! produces. Both directions live here so that a seed always decodes to
//! what it was built from.

/// Reads little-endian integers and byte strings off the front of an input;
/// a short input yields zeros and empty strings, never a panic.
pub struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { rest: data }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = tail;
        head
    }

    pub fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }

    pub fn u16(&mut self) -> u16 {
        let mut out = [0u8; 2];
        let got = self.bytes(2);
        out[..got.len()].copy_from_slice(got);
        u16::from_le_bytes(out)
    }

    pub fn u64(&mut self) -> u64 {
        let mut out = [0u8; 8];
        let got = self.bytes(8);
        out[..got.len()].copy_from_slice(got);
        u64::from_le_bytes(out)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }
}

/// The config target's input: the config text, then (after the first NUL
/// byte) one `KEY=VALUE` environment pair per line.
pub struct ConfigInput {
    pub text: String,
    pub env: Vec<(String, String)>,
}

/// Most environment pairs one config input carries.
pub const MAX_ENV_PAIRS: usize = 16;

impl ConfigInput {
    pub fn decode(data: &[u8]) -> ConfigInput {
        let (text, env) = match data.iter().position(|&b| b == 0) {
            Some(at) => (&data[..at], &data[at + 1..]),
            None => (data, &[][..]),
        };
        let env = String::from_utf8_lossy(env)
            .lines()
            .filter_map(|line| line.split_once('='))
            .take(MAX_ENV_PAIRS)
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        ConfigInput {
            text: String::from_utf8_lossy(text).into_owned(),
            env,
        }
    }

    pub fn encode(text: &str, env: &[(&str, &str)]) -> Vec<u8> {
        let mut out = text.as_bytes().to_vec();
        if !env.is_empty() {
            out.push(0);
            for (key, value) in env {
                out.extend_from_slice(format!("{key}={value}\n").as_bytes());
            }
        }
        out
    }
}

/// The write-ahead log target's input: a byte choosing the segment size
/// (its low 5 bits, the size's base-2 logarithm modulo 24) and the mode
/// (its high bit: framed), then up to [`MAX_SEGMENTS`] segment files, each
/// its name (the first seq, u64) and its bytes (a u16 length, then the
/// bytes; the last one takes what is left when the length runs past the
/// end). In framed mode a segment's bytes are record bodies (a u16 length,
/// then the body: a kind byte and its fields), which the target frames with
/// a valid length and CRC, so that mutations reach what recovery does with
/// well-formed records instead of stopping at a checksum.
pub struct LogInput<'a> {
    pub segment_bytes: u64,
    pub framed: bool,
    pub segments: Vec<(u64, &'a [u8])>,
}

/// Most segment files one log input writes.
pub const MAX_SEGMENTS: usize = 8;

/// The mode bit of a log input's first byte.
pub const FRAMED: u8 = 0x80;

impl<'a> LogInput<'a> {
    pub fn decode(data: &'a [u8]) -> LogInput<'a> {
        let mut cursor = Cursor::new(data);
        let head = cursor.u8();
        let segment_bytes = 1u64 << ((head & 0x1f) % 24);
        let mut segments = Vec::new();
        while !cursor.is_empty() && segments.len() < MAX_SEGMENTS {
            let id = cursor.u64();
            let len = usize::from(cursor.u16());
            segments.push((id, cursor.bytes(len)));
        }
        LogInput {
            segment_bytes,
            framed: head & FRAMED != 0,
            segments,
        }
    }

    /// The record bodies of a framed segment's bytes.
    pub fn bodies(bytes: &[u8]) -> Vec<&[u8]> {
        let mut cursor = Cursor::new(bytes);
        let mut bodies = Vec::new();
        while !cursor.is_empty() {
            let len = usize::from(cursor.u16());
            bodies.push(cursor.bytes(len));
        }
        bodies
    }

    /// `head` is the first byte (size logarithm, [`FRAMED`]); every segment
    /// is at most 64 KiB.
    pub fn encode(head: u8, segments: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut out = vec![head];
        for (id, bytes) in segments {
            let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&bytes[..usize::from(len)]);
        }
        out
    }

    /// A framed segment's bytes from record bodies (each under 64 KiB).
    pub fn encode_bodies(bodies: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for body in bodies {
            let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&body[..usize::from(len)]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_input_round_trips() {
        let segments = vec![(1u64, b"abc".to_vec()), (u64::MAX, Vec::new())];
        let data = LogInput::encode(5 | FRAMED, &segments);
        let input = LogInput::decode(&data);
        assert_eq!(input.segment_bytes, 32);
        assert!(input.framed);
        let got: Vec<(u64, Vec<u8>)> = input
            .segments
            .iter()
            .map(|(id, bytes)| (*id, bytes.to_vec()))
            .collect();
        assert_eq!(got, segments);
    }

    #[test]
    fn bodies_round_trip() {
        let bodies = vec![vec![1u8, 2, 3], Vec::new(), vec![9u8; 300]];
        let bytes = LogInput::encode_bodies(&bodies);
        let got: Vec<Vec<u8>> = LogInput::bodies(&bytes)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(got, bodies);
    }

    #[test]
    fn config_input_round_trips() {
        let data = ConfigInput::encode("[]", &[("PLEXUS_DATA_DIR", "/x=y")]);
        let input = ConfigInput::decode(&data);
        assert_eq!(input.text, "[]");
        assert_eq!(
            input.env,
            vec![("PLEXUS_DATA_DIR".to_owned(), "/x=y".to_owned())]
        );
    }
}
