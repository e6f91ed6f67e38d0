//! The body parser (`Payload::parse`, form and JSON), `BodyKind::sniff`,
//! `BodyKind::from_content_type` and `Payload::text` on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gancho_fuzz::check_form_body(data));
