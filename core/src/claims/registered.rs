//! The registered claims (RFC 7519 §4.1), checked with strict types against a policy.

use std::time::Duration;

use serde_json::{Map, Value};

use super::audience::Audience;
use super::issuer::IssuerTemplate;
use crate::defaults;
use crate::error::{Error, ErrorKind};

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
    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default [`defaults::LEEWAY`] (60 s).
    pub leeway: Duration,
    /// If set, `iat` is required and may be at most this old.
    pub max_age: Option<Duration>,
    /// Claims that must be present (beyond `iss` and `aud`). Default
    /// [`defaults::REQUIRED_CLAIMS`] (`exp`).
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
            leeway: defaults::LEEWAY,
            max_age: None,
            required: defaults::REQUIRED_CLAIMS
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
        }
    }
}

/// The registered claims of a token that passed [`check_claims`], borrowed from the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisteredClaims<'a> {
    /// `iss`.
    pub iss: &'a str,
    /// `sub`, if present.
    pub sub: Option<&'a str>,
    /// `aud` (a single string is one audience; empty when absent).
    pub aud: Audience<'a>,
    /// `exp`, if present.
    pub exp: Option<u64>,
    /// `nbf`, if present.
    pub nbf: Option<u64>,
    /// `iat`, if present.
    pub iat: Option<u64>,
    /// `jti`, if present.
    pub jti: Option<&'a str>,
}

/// Checks the registered claims of `claims` against `policy` at `now` (Unix seconds).
///
/// Types first, then values: `iss`, `sub` and `jti` must be strings; `aud` a string or a
/// non-empty array of strings; `exp`, `nbf` and `iat` non-negative integers no larger than
/// [`MAX_NUMERIC_DATE`] (floats, strings, `null` and negatives are [`ErrorKind::InvalidClaim`]).
/// Then presence ([`ErrorKind::MissingClaim`]), issuer, audience, and the times: `exp` must be
/// after `now - leeway`, `nbf` and `iat` before `now + leeway`, and `iat` within `max_age`.
pub fn check_claims<'a>(
    claims: &'a Map<String, Value>,
    policy: &ClaimsPolicy,
    now: u64,
) -> Result<RegisteredClaims<'a>, Error> {
    check_raw(RawClaims::from_map(claims), policy, now, |name| {
        claims.contains_key(name)
    })
}

/// A registered claim as read, before its type is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field<T> {
    Absent,
    Present(T),
    /// Present with the wrong type or range: why.
    Invalid(&'static str),
}

impl<T> Field<T> {
    pub(crate) fn as_ref(&self) -> Field<&T> {
        match self {
            Field::Absent => Field::Absent,
            Field::Present(value) => Field::Present(value),
            Field::Invalid(why) => Field::Invalid(why),
        }
    }

    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Field<U> {
        match self {
            Field::Absent => Field::Absent,
            Field::Present(value) => Field::Present(f(value)),
            Field::Invalid(why) => Field::Invalid(why),
        }
    }

    /// The value, or the claim's type error.
    fn get(self, name: &str) -> Result<Option<T>, Error> {
        match self {
            Field::Absent => Ok(None),
            Field::Present(value) => Ok(Some(value)),
            Field::Invalid(why) => {
                Err(Error::new(ErrorKind::InvalidClaim, format!("{name} {why}")))
            }
        }
    }

    /// The value, when present.
    pub(crate) fn present(self) -> Option<T> {
        match self {
            Field::Present(value) => Some(value),
            _ => None,
        }
    }

    fn is_present(&self) -> bool {
        !matches!(self, Field::Absent)
    }
}

/// The registered claims as read from a token or a claims map, not yet checked.
pub(crate) struct RawClaims<'a> {
    pub(crate) iss: Field<&'a str>,
    pub(crate) sub: Field<&'a str>,
    pub(crate) jti: Field<&'a str>,
    pub(crate) aud: Field<Audience<'a>>,
    pub(crate) exp: Field<u64>,
    pub(crate) nbf: Field<u64>,
    pub(crate) iat: Field<u64>,
}

impl<'a> RawClaims<'a> {
    fn from_map(claims: &'a Map<String, Value>) -> Self {
        let string = |name| match claims.get(name) {
            None => Field::Absent,
            Some(Value::String(s)) => Field::Present(s.as_str()),
            Some(_) => Field::Invalid("is not a string"),
        };
        let date = |name| match claims.get(name) {
            None => Field::Absent,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) => date_in_range(v),
                None if n.is_i64() => Field::Invalid("is negative"),
                None => Field::Invalid("is not an integer"),
            },
            Some(_) => Field::Invalid("is not a number"),
        };
        let aud = match claims.get("aud") {
            None => Field::Absent,
            Some(Value::String(s)) => Field::Present(Audience::one(s)),
            Some(Value::Array(items)) if items.is_empty() => Field::Invalid("is an empty array"),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                Field::Present(Audience::values(items))
            }
            Some(Value::Array(_)) => Field::Invalid("holds a non-string"),
            Some(_) => Field::Invalid("is neither a string nor an array of strings"),
        };
        Self {
            iss: string("iss"),
            sub: string("sub"),
            jti: string("jti"),
            aud,
            exp: date("exp"),
            nbf: date("nbf"),
            iat: date("iat"),
        }
    }

    fn has(&self, name: &str) -> Option<bool> {
        Some(match name {
            "iss" => self.iss.is_present(),
            "sub" => self.sub.is_present(),
            "jti" => self.jti.is_present(),
            "aud" => self.aud.is_present(),
            "exp" => self.exp.is_present(),
            "nbf" => self.nbf.is_present(),
            "iat" => self.iat.is_present(),
            _ => return None,
        })
    }
}

/// A NumericDate in range, or why not.
pub(crate) fn date_in_range(value: u64) -> Field<u64> {
    if value <= MAX_NUMERIC_DATE {
        Field::Present(value)
    } else {
        Field::Invalid("is out of range")
    }
}

/// [`check_claims`] on claims read either way; `has` answers whether a claim other than the
/// registered ones is present.
pub(crate) fn check_raw<'a>(
    raw: RawClaims<'a>,
    policy: &ClaimsPolicy,
    now: u64,
    has: impl Fn(&str) -> bool,
) -> Result<RegisteredClaims<'a>, Error> {
    let missing = policy
        .required
        .iter()
        .find(|name| !raw.has(name).unwrap_or_else(|| has(name)));
    let iss = raw.iss.get("iss")?;
    let sub = raw.sub.get("sub")?;
    let jti = raw.jti.get("jti")?;
    let aud = raw.aud.get("aud")?;
    let exp = raw.exp.get("exp")?;
    let nbf = raw.nbf.get("nbf")?;
    let iat = raw.iat.get("iat")?;
    if let Some(name) = missing {
        return Err(Error::new(
            ErrorKind::MissingClaim,
            format!("{name} is required"),
        ));
    }
    let Some(iss) = iss else {
        return Err(Error::new(ErrorKind::MissingClaim, "iss is required"));
    };
    if !policy.issuers.iter().any(|known| known == iss)
        && !policy
            .issuer_templates
            .iter()
            .any(|t| t.tenant_of(iss).is_some())
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
        if !aud.iter().any(|a| policy.audiences.iter().any(|p| p == a)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn policy() -> ClaimsPolicy {
        ClaimsPolicy::new(["https://idp"], ["api"])
    }

    fn check(claims: Value) -> Result<(), Error> {
        check_claims(claims.as_object().unwrap(), &policy(), NOW).map(|_| ())
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
        let claims = base();
        let registered = check_claims(claims.as_object().unwrap(), &policy(), NOW).unwrap();
        assert_eq!(registered.aud.iter().collect::<Vec<_>>(), ["api"]);
        assert_eq!(registered.sub, Some("u"));
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
