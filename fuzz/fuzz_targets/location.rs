//! Credential location from arbitrary `Authorization` and `Cookie` header bytes. The input is
//! split at 0xFF bytes into header values; the first byte of each says which header it is.
#![no_main]

use jwtguard_core::TokenLocation;
use jwtguard_core::request::{HeaderLookup, bearer_token, find_token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut authorization = Vec::new();
    let mut cookie = Vec::new();
    let mut other = Vec::new();
    for value in data.split(|b| *b == 0xFF) {
        match value.split_first() {
            Some((0, rest)) => authorization.push(rest),
            Some((1, rest)) => cookie.push(rest),
            Some((_, rest)) => other.push(rest),
            None => {}
        }
    }
    let view = HeaderLookup::new(|name: &str| match name {
        "authorization" => authorization.clone(),
        "cookie" => cookie.clone(),
        "x-token" => other.clone(),
        _ => Vec::new(),
    });
    let locations = [
        TokenLocation::Bearer,
        TokenLocation::Cookie("access_token".into()),
        TokenLocation::Header("x-token".into()),
    ];
    if let Ok(token) = find_token(&locations, &view) {
        assert!(!token.is_empty());
    }
    let _ = bearer_token(authorization.iter().copied());
});
