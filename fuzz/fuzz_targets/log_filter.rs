//! The `GET /logs` filter parser (`logs::parse_filter`) on an arbitrary
//! query string.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gancho_fuzz::check_log_filter(data));
