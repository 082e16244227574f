//! The JWT claims layer: the registered claims of a verified payload, checked with strict
//! types. A claim of the wrong type is invalid, never "absent".
//!
//! ```
//! use jwtguard_core::claims::{ClaimsPolicy, check_claims};
//! use jwtguard_core::ErrorKind;
//!
//! let policy = ClaimsPolicy::new(["https://idp.example"], ["api"]);
//! let claims = serde_json::json!({"iss": "https://idp.example", "aud": ["x", "api"], "exp": 2_000});
//! let registered = check_claims(claims.as_object().unwrap(), &policy, 1_000).unwrap();
//! assert_eq!(registered.exp, Some(2_000));
//!
//! let expired = check_claims(claims.as_object().unwrap(), &policy, 3_000).unwrap_err();
//! assert_eq!(expired.kind(), ErrorKind::Expired);
//! ```

use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};
use crate::issuer::IssuerTemplate;

/// The largest NumericDate accepted: 9999-12-31T23:59:59Z.
pub const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// What [`check_claims`] enforces.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClaimsPolicy {
    /// Accepted `iss` values, compared exactly. `iss` is required.
    pub issuers: Vec<String>,
    /// Accepted `iss` templates (multi-tenant issuers). Default none.
    pub issuer_templates: Vec<IssuerTemplate>,
    /// Accepted audiences: `aud` must name at least one. `aud` is required unless this is empty.
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default 60 s.
    pub leeway: Duration,
    /// If set, `iat` is required and may be at most this old.
    pub max_age: Option<Duration>,
    /// Claims that must be present (beyond `iss` and `aud`). Default: `exp`.
    pub required: Vec<String>,
}

impl ClaimsPolicy {
    /// A policy with the given issuers and audiences and the defaults for the rest.
    pub fn new<I, A>(issuers: I, audiences: A) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
        A: IntoIterator,
        A::Item: Into<String>,
    {
        Self {
            issuers: issuers.into_iter().map(Into::into).collect(),
            issuer_templates: Vec::new(),
            audiences: audiences.into_iter().map(Into::into).collect(),
            leeway: Duration::from_secs(60),
            max_age: None,
            required: vec!["exp".to_owned()],
        }
    }
}

/// The registered claims of a token that passed [`check_claims`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredClaims {
    /// `iss`.
    pub iss: String,
    /// `sub`, if present.
    pub sub: Option<String>,
    /// `aud`, as a list (a single string becomes one item).
    pub aud: Vec<String>,
    /// `exp`, if present.
    pub exp: Option<u64>,
    /// `nbf`, if present.
    pub nbf: Option<u64>,
    /// `iat`, if present.
    pub iat: Option<u64>,
    /// `jti`, if present.
    pub jti: Option<String>,
}

/// Checks the registered claims of `claims` against `policy` at `now` (Unix seconds).
///
/// Types first, then values: `iss`, `sub` and `jti` must be strings; `aud` a string or a
/// non-empty array of strings; `exp`, `nbf` and `iat` non-negative integers no larger than
/// [`MAX_NUMERIC_DATE`] (floats, strings, `null` and negatives are [`ErrorKind::InvalidClaim`]).
/// Then presence ([`ErrorKind::MissingClaim`]), issuer, audience, and the times: `exp` must be
/// after `now - leeway`, `nbf` and `iat` before `now + leeway`, and `iat` within `max_age`.
pub fn check_claims(
    claims: &Map<String, Value>,
    policy: &ClaimsPolicy,
    now: u64,
) -> Result<RegisteredClaims, Error> {
    let iss = string_claim(claims, "iss")?;
    let sub = string_claim(claims, "sub")?;
    let jti = string_claim(claims, "jti")?;
    let aud = audience_claim(claims)?;
    let exp = date_claim(claims, "exp")?;
    let nbf = date_claim(claims, "nbf")?;
    let iat = date_claim(claims, "iat")?;

    for name in &policy.required {
        if !claims.contains_key(name) {
            return Err(Error::new(
                ErrorKind::MissingClaim,
                format!("{name} is required"),
            ));
        }
    }
    let Some(iss) = iss else {
        return Err(Error::new(ErrorKind::MissingClaim, "iss is required"));
    };
    if !policy.issuers.contains(&iss)
        && !policy
            .issuer_templates
            .iter()
            .any(|t| t.tenant_of(&iss).is_some())
    {
        return Err(Error::new(
            ErrorKind::InvalidIssuer,
            "iss is not the expected issuer",
        ));
    }
    if !policy.audiences.is_empty() {
        let Some(aud) = &aud else {
            return Err(Error::new(ErrorKind::MissingClaim, "aud is required"));
        };
        if !aud.iter().any(|a| policy.audiences.contains(a)) {
            return Err(Error::new(
                ErrorKind::InvalidAudience,
                "aud names none of the expected audiences",
            ));
        }
    }

    let leeway = policy.leeway.as_secs();
    if let Some(exp) = exp
        && exp.saturating_add(leeway) <= now
    {
        return Err(Error::new(ErrorKind::Expired, "exp has passed"));
    }
    if let Some(nbf) = nbf
        && nbf > now.saturating_add(leeway)
    {
        return Err(Error::new(ErrorKind::NotYetValid, "nbf is in the future"));
    }
    if let Some(iat) = iat
        && iat > now.saturating_add(leeway)
    {
        return Err(Error::new(
            ErrorKind::IssuedInFuture,
            "iat is in the future",
        ));
    }
    if let Some(max_age) = policy.max_age {
        let Some(iat) = iat else {
            return Err(Error::new(
                ErrorKind::MissingClaim,
                "iat is required when a maximum age is set",
            ));
        };
        if now.saturating_sub(iat) > max_age.as_secs().saturating_add(leeway) {
            return Err(Error::new(
                ErrorKind::TooOld,
                "iat is older than the maximum age",
            ));
        }
    }

    Ok(RegisteredClaims {
        iss,
        sub,
        aud: aud.unwrap_or_default(),
        exp,
        nbf,
        iat,
        jti,
    })
}

fn invalid(name: &str, what: &str) -> Error {
    Error::new(ErrorKind::InvalidClaim, format!("{name} {what}"))
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, Error> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(name, "is not a string")),
    }
}

fn audience_claim(claims: &Map<String, Value>) -> Result<Option<Vec<String>>, Error> {
    match claims.get("aud") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) if items.is_empty() => Err(invalid("aud", "is an empty array")),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(invalid("aud", "holds a non-string")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid(
            "aud",
            "is neither a string nor an array of strings",
        )),
    }
}

fn date_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, Error> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v <= MAX_NUMERIC_DATE => Ok(Some(v)),
            Some(_) => Err(invalid(name, "is out of range")),
            None if n.is_i64() => Err(invalid(name, "is negative")),
            None => Err(invalid(name, "is not an integer")),
        },
        Some(_) => Err(invalid(name, "is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn policy() -> ClaimsPolicy {
        ClaimsPolicy::new(["https://idp"], ["api"])
    }

    fn check(claims: Value) -> Result<RegisteredClaims, Error> {
        check_claims(claims.as_object().unwrap(), &policy(), NOW)
    }

    fn kind(claims: Value) -> ErrorKind {
        check(claims).unwrap_err().kind()
    }

    fn base() -> Value {
        json!({"iss": "https://idp", "aud": "api", "exp": NOW + 300, "iat": NOW, "sub": "u"})
    }

    fn with(name: &str, value: Value) -> Value {
        let mut claims = base();
        claims[name] = value;
        claims
    }

    #[test]
    fn a_good_claim_set_passes() {
        let registered = check(base()).unwrap();
        assert_eq!(registered.aud, ["api"]);
        assert_eq!(registered.sub.as_deref(), Some("u"));
    }

    #[test]
    fn issuer_is_exact() {
        assert_eq!(
            kind(with("iss", json!("https://idp/"))),
            ErrorKind::InvalidIssuer
        );
        assert_eq!(
            kind(with("iss", json!("HTTPS://IDP"))),
            ErrorKind::InvalidIssuer
        );
        assert_eq!(
            kind(with("iss", json!(["https://idp"]))),
            ErrorKind::InvalidClaim
        );
        let mut no_iss = base();
        no_iss.as_object_mut().unwrap().remove("iss");
        assert_eq!(kind(no_iss), ErrorKind::MissingClaim);
    }

    #[test]
    fn audience_is_any_of() {
        assert!(check(with("aud", json!(["other", "api"]))).is_ok());
        assert_eq!(
            kind(with("aud", json!("other"))),
            ErrorKind::InvalidAudience
        );
        assert_eq!(kind(with("aud", json!([]))), ErrorKind::InvalidClaim);
        assert_eq!(kind(with("aud", json!(7))), ErrorKind::InvalidClaim);
        assert_eq!(
            kind(with("aud", json!(["api", 7]))),
            ErrorKind::InvalidClaim
        );
        let mut no_aud = base();
        no_aud.as_object_mut().unwrap().remove("aud");
        assert_eq!(kind(no_aud), ErrorKind::MissingClaim);
    }

    #[test]
    fn dates_have_strict_types() {
        for name in ["exp", "nbf", "iat"] {
            for bad in [
                json!("1700000000"),
                Value::Null,
                json!(1.7e9),
                json!(-1),
                json!(1e30),
            ] {
                assert_eq!(
                    kind(with(name, bad.clone())),
                    ErrorKind::InvalidClaim,
                    "{name}={bad}"
                );
            }
            assert_eq!(kind(with(name, json!(u64::MAX))), ErrorKind::InvalidClaim);
        }
    }

    #[test]
    fn exp_is_required_and_checked_with_leeway() {
        let mut no_exp = base();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(kind(no_exp), ErrorKind::MissingClaim);
        assert!(check(with("exp", json!(NOW - 59))).is_ok());
        assert_eq!(kind(with("exp", json!(NOW - 60))), ErrorKind::Expired);
    }

    #[test]
    fn nbf_and_iat_allow_the_leeway_only() {
        assert!(check(with("nbf", json!(NOW + 60))).is_ok());
        assert_eq!(kind(with("nbf", json!(NOW + 61))), ErrorKind::NotYetValid);
        assert!(check(with("iat", json!(NOW + 60))).is_ok());
        assert_eq!(
            kind(with("iat", json!(NOW + 61))),
            ErrorKind::IssuedInFuture
        );
    }

    #[test]
    fn max_age_needs_iat() {
        let mut policy = policy();
        policy.max_age = Some(Duration::from_secs(600));
        let old = with("iat", json!(NOW - 661));
        let err = check_claims(old.as_object().unwrap(), &policy, NOW).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooOld);
        let mut no_iat = base();
        no_iat.as_object_mut().unwrap().remove("iat");
        let err = check_claims(no_iat.as_object().unwrap(), &policy, NOW).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingClaim);
    }

    #[test]
    fn other_registered_claims_must_be_strings() {
        assert_eq!(kind(with("sub", json!(5))), ErrorKind::InvalidClaim);
        assert_eq!(kind(with("jti", json!({}))), ErrorKind::InvalidClaim);
    }

    #[test]
    fn required_claims_are_enforced() {
        let mut policy = policy();
        policy.required.push("jti".into());
        let err = check_claims(base().as_object().unwrap(), &policy, NOW).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingClaim);
    }
}
