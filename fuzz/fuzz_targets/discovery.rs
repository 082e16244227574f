//! Discovery-document parsing and its checks (the issuer match, the jwks_uri policy).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jwtguard_core::__fuzzing::discovery_document(data, "https://idp.example");
    jwtguard_core::__fuzzing::discovery_document(data, "http://127.0.0.1:3000");
});
