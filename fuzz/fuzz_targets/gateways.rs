//! Every gateway adapter's detect, verify and normalize on one arbitrary
//! call (layout: `gancho_fuzz::GatewayCase`). Byte 0 picks the adapter;
//! `GANCHO_FUZZ_GATEWAY=<gateway>` pins one instead.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(case) = gancho_fuzz::GatewayCase::decode(data) {
        gancho_fuzz::check_gateway(&case);
    }
});
