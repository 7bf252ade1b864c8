//! Fuzzes what the host does with a plugin's stderr: the bytes are cut into
//! capped lines (`ChunkLines`), each line is parsed as hclog JSON
//! (`plexus_proto::hclog::parse_json`) or classified as a plain line
//! (`LineClassifier`, which remembers a Go panic), and the text mirrored into
//! the host's log must hold no control character. A JSON record must also
//! survive `format_json` and a second parse with its level, message, module
//! and fields.
#![no_main]

use plexus_engine::host::logs::{mirrored_text, ChunkLines};
use plexus_proto::hclog::{format_json, parse_json, LineClassifier};
use serde_json::Value;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&cap, bytes)) = data.split_first() else {
        return;
    };
    // Small caps as well as the host's 64 KiB, so truncation is reached.
    let max = if cap == 0 {
        64 * 1024
    } else {
        usize::from(cap)
    };
    let mut chunks = ChunkLines::new(max);
    let mut lines = chunks.feed(bytes);
    lines.extend(chunks.finish());
    let mut classifier = LineClassifier::new();
    for line in lines {
        assert!(line.bytes.len() <= max, "a line longer than the cap");
        let text = line.to_text();
        let record = classifier.classify(&text);
        let mirrored = mirrored_text(&record);
        assert!(
            !mirrored.chars().any(char::is_control),
            "control character mirrored: {mirrored:?}"
        );
        if let Some(json) = parse_json(&text) {
            let fields: Vec<(&str, Value)> = json
                .fields
                .iter()
                .map(|(key, value)| (key.as_str(), Value::from(value.as_str())))
                .collect();
            let again = format_json(
                json.level,
                json.timestamp.as_deref().unwrap_or_default(),
                json.module.as_deref(),
                &json.message,
                &fields,
            );
            let reparsed =
                parse_json(&again).unwrap_or_else(|| panic!("{again:?} does not parse back"));
            assert_eq!(reparsed.level, json.level);
            assert_eq!(reparsed.message, json.message);
            assert_eq!(reparsed.module, json.module);
            assert_eq!(reparsed.fields, json.fields);
        }
    }
});
