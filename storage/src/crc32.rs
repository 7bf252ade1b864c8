//! CRC-32 (IEEE 802.3, the zlib/PNG polynomial) of every stored record.
//!
//! Exists so that every stored record carries its own checksum: a record
//! whose bytes changed on disk (bit rot, a torn write, a foreign writer) is
//! detected when read instead of being handed to a plugin as garbage. One
//! function, so the format's checksum is defined in one place; its test
//! pins the standard check values.

/// The CRC-32 of `data` (same value as zlib's `crc32(0, data, len)`),
/// computed by `crc32fast` (with the CPU's carry-less multiply where there
/// is one: reading a queue back checks every byte it reads).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::crc32;

    #[test]
    fn known_check_values() {
        // The standard check value for CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }
}
