//! Standard Webhooks verification (the `generic` adapter) and signing
//! (layout: `gancho_fuzz::SignedCase`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gancho_fuzz::check_standard_webhooks(&gancho_fuzz::SignedCase::decode(data));
});
