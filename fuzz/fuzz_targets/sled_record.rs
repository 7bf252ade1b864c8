//! Fuzzes the decoding of a record read back from the sled queue: a key
//! (its sequence number) and a value (version, times, payload, CRC). It must
//! never panic, and a record it accepts must be exactly what the encoder
//! writes for it (nothing else decodes).
#![no_main]

use plexus_fuzz::Cursor;
use plexus_storage::fuzzing::{decode_record, encode_record, record_key};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    // Key lengths around the valid 8 bytes.
    let key_len = usize::from(cursor.u8() % 17);
    let key = cursor.bytes(key_len);
    let value = cursor.rest();
    match decode_record(key, value) {
        Ok(record) => {
            assert_eq!(record_key(record.seq), key);
            assert!(record.seq <= plexus_storage::MAX_SEQ);
            let encoded = encode_record(record.enqueued_at_ms, record.event_ts_ns, &record.payload);
            assert_eq!(encoded.as_deref(), Some(value));
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
