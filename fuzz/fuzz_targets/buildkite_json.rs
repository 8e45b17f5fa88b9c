//! The typed Buildkite JSON reader: never panics; every record it keeps is storable.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(up) = verdict_formats::buildkite::parse_json_body(data) {
        assert!(up.executions.len() <= 5000);
        assert!(up.executions.iter().all(|e| e.problem().is_none()));
    }
});
