//! Fuzzes the config loader `plexus validate` and `plexus serve` use:
//! `PluginsFile::parse_with_env` over arbitrary text (JSON is the one format
//! it reads) and a few environment overrides (`SFTPGO_PLUGINS__<i>__…`,
//! `PLEXUS_…`). Parsing and validation must never panic, and a config they
//! accept must turn into engine and serve settings without a panic either
//! (those conversions trust that validation ran).
#![no_main]

use plexus_engine::config::PluginsFile;
use plexus_fuzz::ConfigInput;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let input = ConfigInput::decode(data);
    match PluginsFile::parse_with_env(&input.text, "fuzz.json", &input.env) {
        Ok(file) => {
            let _ = file.engine_settings();
            let _ = file.serve_settings();
            assert!(file.problems().is_empty(), "accepted with problems");
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
