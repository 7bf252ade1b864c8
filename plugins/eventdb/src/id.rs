//! Event ids: 20 lowercase base32hex characters of 12 bytes laid out as an
//! xid (4 bytes of Unix seconds, 3 of machine id, 2 of process id, 3 of a
//! counter), the shape the Go plugin stores. They sort by creation second,
//! and within one process by creation order, as strings; that lets the
//! searcher break timestamp ties with `id`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// The length of every id.
pub const ID_LEN: usize = 20;

struct Generator {
    machine: [u8; 3],
    pid: u16,
    counter: AtomicU32,
}

fn generator() -> &'static Generator {
    static GENERATOR: OnceLock<Generator> = OnceLock::new();
    GENERATOR.get_or_init(|| {
        let seed = random_seed();
        Generator {
            machine: machine_id(seed),
            pid: std::process::id() as u16,
            counter: AtomicU32::new((seed >> 32) as u32 & 0x00ff_ffff),
        }
    })
}

/// Time and addresses mixed: no cryptographic randomness is needed, only
/// a low chance that two processes share machine id and counter start.
fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let local = &nanos as *const u64 as u64;
    let mut x = nanos ^ local.rotate_left(32) ^ u64::from(std::process::id()) << 17;
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Three bytes from the host name (stable per machine), else random.
fn machine_id(seed: u64) -> [u8; 3] {
    let name = std::fs::read_to_string("/etc/machine-id")
        .or_else(|_| std::fs::read_to_string("/proc/sys/kernel/hostname"))
        .unwrap_or_default();
    let mut hash: u32 = 0x811c_9dc5;
    if name.trim().is_empty() {
        hash = seed as u32;
    }
    for byte in name.trim().bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    let [a, b, c, _] = hash.to_be_bytes();
    [a, b, c]
}

/// A new id for the current second.
pub fn new_id() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    new_id_at(seconds)
}

/// A new id carrying `seconds` as its time part.
pub fn new_id_at(seconds: u32) -> String {
    let g = generator();
    let count = g.counter.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
    let mut raw = [0u8; 12];
    raw[..4].copy_from_slice(&seconds.to_be_bytes());
    raw[4..7].copy_from_slice(&g.machine);
    raw[7..9].copy_from_slice(&g.pid.to_be_bytes());
    raw[9..].copy_from_slice(&count.to_be_bytes()[1..]);
    encode(&raw)
}

/// base32hex without padding: 96 bits → 20 characters (the last one holds
/// the final 1 bit shifted left, as xid does).
fn encode(raw: &[u8; 12]) -> String {
    let mut out = String::with_capacity(ID_LEN);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in raw {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_xid_shape_and_sort_by_time_then_order() {
        let a = new_id_at(1_700_000_000);
        let b = new_id_at(1_700_000_000);
        let c = new_id_at(1_700_000_001);
        for id in [&a, &b, &c] {
            assert_eq!(id.len(), ID_LEN);
            assert!(id.bytes().all(|c| ALPHABET.contains(&c)), "{id}");
        }
        assert!(a < b && b < c, "{a} {b} {c}");
    }

    #[test]
    fn encoding_matches_xid() {
        // xid's documented example: 9m4e2mr0ui3e8a215n4g
        let raw = [
            0x4d, 0x88, 0xe1, 0x5b, 0x60, 0xf4, 0x86, 0xe4, 0x28, 0x41, 0x2d, 0xc9,
        ];
        assert_eq!(encode(&raw), "9m4e2mr0ui3e8a215n4g");
    }
}
