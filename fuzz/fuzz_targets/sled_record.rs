//! Fuzzes the decoding of what the sled queue reads back under one key: a
//! record under its 8-byte key (its sequence number; the value holds
//! version, times, payload, CRC), or a group of records under its 12-byte
//! key. It must never panic, and what it accepts must be exactly what the
//! encoder writes for it (nothing else decodes).
#![no_main]

use plexus_fuzz::Cursor;
use plexus_storage::fuzzing::{decode_stored, encode_group, encode_record, record_key};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    // Key lengths around the valid 8 (a record) and 12 (a group) bytes.
    let key_len = usize::from(cursor.u8() % 17);
    let key = cursor.bytes(key_len);
    let value = cursor.rest();
    match decode_stored(key, value) {
        Ok(records) if key_len == 8 => {
            let [record] = &records[..] else {
                panic!("a record key decoded to {} records", records.len());
            };
            assert_eq!(record_key(record.seq), key);
            assert!(record.seq <= plexus_storage::MAX_SEQ);
            let encoded = encode_record(record.enqueued_at_ms, record.event_ts_ns, &record.payload);
            assert_eq!(encoded.as_deref(), Some(value));
        }
        Ok(records) => {
            assert!(!records.is_empty(), "a group without records decoded");
            assert!(records.windows(2).all(|w| w[0].seq < w[1].seq));
            assert!(records.iter().all(|r| r.seq <= plexus_storage::MAX_SEQ));
            let (group_key, group_value) = encode_group(&records).expect("decoded records encode");
            assert_eq!(group_key, key);
            assert_eq!(group_value, value);
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
