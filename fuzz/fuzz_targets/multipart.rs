//! The multipart upload reader (multer, then the envelope and its data).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let _ = rt.block_on(verdict_server::parse_multipart_upload("multipart/form-data; boundary=XyZ", data.to_vec()));
});
