//! The JUnit reader: never panics; what it accepts is within the result cap.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(report) = verdict_formats::junit::parse(data) {
        assert!(report.executions.len() <= 5000);
    }
});
