//! The whole validation of an arbitrary token against a fixed key set (RSA, EC, Ed25519 and an
//! HMAC secret), plus the header reader and the claims scan on the raw bytes.
#![no_main]

use std::sync::OnceLock;

use jwtguard_core::{Algorithm, KeySet, Validator};
use libfuzzer_sys::fuzz_target;

/// The public keys of RFC 7515 appendix A.2 (RSA), A.3 (P-256) and RFC 8037 A.2 (Ed25519).
const JWKS: &str = r#"{"keys":[
 {"kty":"RSA","kid":"rsa","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"},
 {"kty":"EC","kid":"ec","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
 {"kty":"OKP","kid":"ed","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

fn validator() -> &'static (tokio::runtime::Runtime, Validator) {
    static VALIDATOR: OnceLock<(tokio::runtime::Runtime, Validator)> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let keys = KeySet::from_jwks(JWKS.as_bytes(), &Algorithm::ALL).expect("the key set");
        let validator = runtime
            .block_on(
                Validator::builder()
                    .issuer("https://idp.example")
                    .audience("api")
                    .key_set(keys)
                    .hmac_secret(Algorithm::HS256, [7u8; 32])
                    .build(),
            )
            .expect("the validator");
        (runtime, validator)
    })
}

fuzz_target!(|data: &[u8]| {
    jwtguard_core::__fuzzing::parse_header(data);
    jwtguard_core::__fuzzing::scan_claims(data);
    if let Ok(token) = std::str::from_utf8(data) {
        let (runtime, validator) = validator();
        if let Ok(verified) = runtime.block_on(validator.validate(token)) {
            // Reaching here needs a real signature: the reads of a verified token must hold.
            let _ = verified.claims();
            let _ = verified.roles().count();
        }
    }
});
