//! pytest-monitor's three bodies.
#![no_main]
use verdict_formats::pytest_monitor::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = parse_context(&v);
        let _ = parse_metric(&v);
        if let Ok(mut s) = parse_session(&v, Some("h")) {
            order_description(&mut s, data);
        }
    }
});
