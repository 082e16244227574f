//! JWKS parsing: arbitrary bytes as a key set document, with every algorithm allowed.
#![no_main]

use jwtguard_core::{Algorithm, KeySet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = KeySet::from_jwks(data, &Algorithm::ALL) {
        let _ = set.kids().count();
        let _ = set.algorithms();
        let _ = set.skipped().len();
    }
});
