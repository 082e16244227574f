//! Requirements checked against a verified token: roles and scopes, the audience (RFC 8707),
//! and the user's authentication (RFC 9470 step-up). What the guards of both adapters declare.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::validator::token::VerifiedToken;

/// Whether all or any of a requirement's values must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// At least one of the values.
    Any,
    /// Every value.
    All,
}

/// What a requirement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessKind {
    /// Roles, read from [`AccessPaths::roles`](crate::claims::AccessPaths::roles).
    Role,
    /// Scopes, read from [`AccessPaths::scopes`](crate::claims::AccessPaths::scopes).
    Scope,
    /// The audience (`aud`): a token for another resource is refused (RFC 8707), for route
    /// groups of a server that hosts several resources. The values are the audiences, any of
    /// which will do.
    Audience,
    /// The user's authentication behind the token (RFC 9470): its `acr`, any of the values
    /// (none: any `acr`), and how long ago it was (`auth_time`, see
    /// [`Requirement::max_auth_age`]).
    Authentication,
}

/// A requirement checked against a verified token.
///
/// A failure is, by kind:
/// - roles and scopes: [`ErrorKind::InsufficientScope`] (403, with the `scope` that would do);
/// - the audience: [`ErrorKind::InvalidAudience`] (401 `invalid_token`);
/// - the authentication: [`ErrorKind::InsufficientUserAuthentication`] (401
///   `insufficient_user_authentication`, with `acr_values` and `max_age`).
///
/// ```
/// use std::time::Duration;
/// use jwtguard_core::Requirement;
///
/// let admin = Requirement::role("admin");
/// let write = Requirement::all_scopes(["orders:read", "orders:write"]);
/// let step_up = Requirement::step_up(["mfa"], Some(Duration::from_secs(300)));
/// assert_eq!(admin.to_string(), "role admin");
/// assert_eq!(write.to_string(), "all of scopes orders:read, orders:write");
/// assert_eq!(step_up.to_string(), "acr mfa, authenticated within 300 s");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    kind: AccessKind,
    mode: Match,
    values: Vec<String>,
    /// For [`AccessKind::Authentication`]: the most time since the user authenticated.
    max_auth_age: Option<Duration>,
}

/// Tolerance for an `auth_time` in the future, as the validator's default leeway: the
/// clocks of the authorization server and this server may differ a little.
const AUTH_TIME_LEEWAY: u64 = crate::defaults::LEEWAY.as_secs();

impl Requirement {
    /// A requirement on `kind`.
    pub fn new<I>(kind: AccessKind, mode: Match, values: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self {
            kind,
            mode,
            values: values.into_iter().map(Into::into).collect(),
            max_auth_age: None,
        }
    }

    /// The token must have this role.
    pub fn role(role: impl Into<String>) -> Self {
        Self::new(AccessKind::Role, Match::All, [role])
    }

    /// The token must have at least one of these roles.
    pub fn any_role<I: IntoIterator<Item: Into<String>>>(roles: I) -> Self {
        Self::new(AccessKind::Role, Match::Any, roles)
    }

    /// The token must have every one of these roles.
    pub fn all_roles<I: IntoIterator<Item: Into<String>>>(roles: I) -> Self {
        Self::new(AccessKind::Role, Match::All, roles)
    }

    /// The token must have this scope.
    pub fn scope(scope: impl Into<String>) -> Self {
        Self::new(AccessKind::Scope, Match::All, [scope])
    }

    /// The token must have at least one of these scopes.
    pub fn any_scope<I: IntoIterator<Item: Into<String>>>(scopes: I) -> Self {
        Self::new(AccessKind::Scope, Match::Any, scopes)
    }

    /// The token must have every one of these scopes.
    pub fn all_scopes<I: IntoIterator<Item: Into<String>>>(scopes: I) -> Self {
        Self::new(AccessKind::Scope, Match::All, scopes)
    }

    /// The token must be meant for this audience (its `aud` names it), though the validator
    /// accepts others: a route group of one resource among several (RFC 8707).
    pub fn audience(audience: impl Into<String>) -> Self {
        Self::new(AccessKind::Audience, Match::Any, [audience])
    }

    /// The user must have authenticated with this `acr` (RFC 9470).
    pub fn acr(acr: impl Into<String>) -> Self {
        Self::new(AccessKind::Authentication, Match::Any, [acr])
    }

    /// The user must have authenticated with one of these `acr` values (RFC 9470).
    pub fn any_acr<I: IntoIterator<Item: Into<String>>>(acr_values: I) -> Self {
        Self::new(AccessKind::Authentication, Match::Any, acr_values)
    }

    /// The user must have authenticated at most `max_age` ago (the token's `auth_time`, RFC
    /// 9470). A token without `auth_time` counts as too old. Whole seconds: a fraction is
    /// dropped, and less than a second is one second (with `auth_time` in whole seconds, no
    /// login could be recent enough for zero).
    pub fn auth_age(max_age: Duration) -> Self {
        Self::step_up(Vec::<String>::new(), Some(max_age))
    }

    /// Both at once, so that one challenge names both: one of `acr_values` (none: any `acr`)
    /// and, with `max_age`, an `auth_time` at most that long ago (whole seconds, at least one,
    /// as for [`auth_age`](Self::auth_age)). The `acr` is one value, so the values are always
    /// any-of.
    pub fn step_up<I: IntoIterator<Item: Into<String>>>(
        acr_values: I,
        max_age: Option<Duration>,
    ) -> Self {
        let mut requirement = Self::new(AccessKind::Authentication, Match::Any, acr_values);
        requirement.max_auth_age = max_age.map(|age| Duration::from_secs(age.as_secs().max(1)));
        requirement
    }

    /// What the requirement is about.
    pub fn kind(&self) -> AccessKind {
        self.kind
    }

    /// Whether all or any of the values must be present.
    pub fn mode(&self) -> Match {
        self.mode
    }

    /// The roles, scopes, audiences or `acr` values.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// For [`AccessKind::Authentication`]: the most time since the user authenticated, if
    /// limited.
    pub fn max_auth_age(&self) -> Option<Duration> {
        self.max_auth_age
    }

    /// Checks the requirement against a verified token (the age of its authentication against
    /// the system clock).
    pub fn check(&self, token: &VerifiedToken) -> Result<(), Error> {
        self.check_at(token, SystemClock.unix_seconds())
    }

    /// Checks the requirement against a verified token at `now`, in Unix seconds.
    pub fn check_at(&self, token: &VerifiedToken, now: u64) -> Result<(), Error> {
        match self.kind {
            AccessKind::Role | AccessKind::Scope => self.check_access(token),
            AccessKind::Audience => self.check_audience(token),
            AccessKind::Authentication => self.check_authentication(token, now),
        }
    }

    fn check_audience(&self, token: &VerifiedToken) -> Result<(), Error> {
        let aud = token.registered().aud;
        if self.values_hold(|audience| aud.contains(audience)) {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::InvalidAudience,
            "the token is meant for another resource of this server",
        ))
    }

    fn check_authentication(&self, token: &VerifiedToken, now: u64) -> Result<(), Error> {
        let claims = token.claims();
        let acr_ok = self.values.is_empty()
            || (claims.get("acr").and_then(|acr| acr.as_str()))
                .is_some_and(|acr| self.values.iter().any(|value| value == acr));
        let max_age = self.max_auth_age.map(|age| age.as_secs());
        let age_ok = max_age.is_none_or(|max_age| {
            // A missing or unreadable auth_time counts as too old.
            (claims.get("auth_time").and_then(|time| time.as_u64())).is_some_and(|auth_time| {
                auth_time <= now.saturating_add(AUTH_TIME_LEEWAY)
                    && now.saturating_sub(auth_time) <= max_age
            })
        });
        // Neither an acr nor an age is a configuration slip: it refuses rather than lets all in.
        let configured = !self.values.is_empty() || max_age.is_some();
        if configured && acr_ok && age_ok {
            return Ok(());
        }
        let acr_values = (!self.values.is_empty()).then(|| self.values.join(" "));
        Err(Error::insufficient_user_authentication(
            self.to_string(),
            acr_values,
            max_age,
        ))
    }

    /// Whether `has` holds for any or all of the values, as the mode says. No values is a
    /// configuration slip: it refuses rather than lets all in.
    fn values_hold(&self, has: impl Fn(&String) -> bool) -> bool {
        !self.values.is_empty()
            && match self.mode {
                Match::Any => self.values.iter().any(has),
                Match::All => self.values.iter().all(has),
            }
    }

    fn check_access(&self, token: &VerifiedToken) -> Result<(), Error> {
        let held = self.values_hold(|value| match self.kind {
            AccessKind::Role => token.has_role(value),
            _ => token.has_scope(value),
        });
        if held {
            return Ok(());
        }
        let scope = (self.kind == AccessKind::Scope).then(|| self.values.join(" "));
        Err(Error::insufficient_scope(self.to_string(), scope))
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (one, many) = match self.kind {
            AccessKind::Role => ("role", "roles"),
            AccessKind::Scope => ("scope", "scopes"),
            AccessKind::Audience => ("audience", "audiences"),
            AccessKind::Authentication => {
                let acr = match self.values.len() {
                    0 => None,
                    1 => Some(format!("acr {}", self.values[0])),
                    _ => Some(format!("any of acr {}", self.values.join(", "))),
                };
                let age = (self.max_auth_age)
                    .map(|age| format!("authenticated within {} s", age.as_secs()));
                let parts: Vec<String> = acr.into_iter().chain(age).collect();
                return match parts.is_empty() {
                    true => f.write_str("no authentication requirement"),
                    false => f.write_str(&parts.join(", ")),
                };
            }
        };
        match (self.values.len(), self.mode) {
            (1, _) => write!(f, "{one} {}", self.values[0]),
            (_, Match::Any) => write!(f, "any of {many} {}", self.values.join(", ")),
            (_, Match::All) => write!(f, "all of {many} {}", self.values.join(", ")),
        }
    }
}

/// A requirement known at compile time, as the attribute guards declare them.
pub trait StaticRequirement {
    /// The requirement.
    fn requirement() -> &'static Requirement;
}

/// Builds a requirement once, for [`StaticRequirement`] implementations.
pub fn once(
    cell: &'static OnceLock<Requirement>,
    make: impl FnOnce() -> Requirement,
) -> &'static Requirement {
    cell.get_or_init(make)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn step_up_needs_the_acr_and_a_recent_enough_auth_time() {
        let step_up = Requirement::step_up(["mfa", "phr"], Some(Duration::from_secs(300)));
        let token = |claims| VerifiedToken::for_tests(claims);
        let fresh_mfa = token(json!({"acr": "mfa", "auth_time": NOW - 300}));
        assert!(step_up.check_at(&fresh_mfa, NOW).is_ok());
        assert!(
            step_up
                .check_at(&token(json!({"acr": "phr", "auth_time": NOW + 30})), NOW)
                .is_ok()
        );
        for refused in [
            json!({"acr": "mfa", "auth_time": NOW - 301}),
            json!({"acr": "mfa"}),
            json!({"acr": "mfa", "auth_time": "recent"}),
            json!({"acr": "mfa", "auth_time": NOW + 3600}),
            json!({"acr": "pwd", "auth_time": NOW}),
            json!({"acr": ["mfa"], "auth_time": NOW}),
            json!({"auth_time": NOW}),
        ] {
            let err = step_up.check_at(&token(refused.clone()), NOW).unwrap_err();
            assert!(err.is_insufficient_user_authentication(), "{refused}");
            assert_eq!(err.status(), 401);
            assert_eq!(err.required_acr_values(), Some("mfa phr"));
            assert_eq!(err.required_max_age(), Some(300));
        }
        let age_only = Requirement::auth_age(Duration::from_millis(60_900));
        assert_eq!(age_only.max_auth_age(), Some(Duration::from_secs(60)));
        let zero = Requirement::auth_age(Duration::ZERO);
        assert_eq!(zero.max_auth_age(), Some(Duration::from_secs(1)));
        assert!(
            zero.check_at(&token(json!({"auth_time": NOW - 1})), NOW)
                .is_ok()
        );
        assert!(
            age_only
                .check_at(&token(json!({"auth_time": NOW - 60})), NOW)
                .is_ok()
        );
        let err = age_only
            .check_at(&token(json!({"auth_time": NOW - 61})), NOW)
            .unwrap_err();
        assert_eq!(
            (err.required_acr_values(), err.required_max_age()),
            (None, Some(60))
        );
        let acr_only = Requirement::acr("mfa");
        assert!(
            acr_only
                .check_at(&token(json!({"acr": "mfa"})), NOW)
                .is_ok()
        );
        let err = acr_only.check_at(&token(json!({})), NOW).unwrap_err();
        assert_eq!(
            (err.required_acr_values(), err.required_max_age()),
            (Some("mfa"), None)
        );
        // Nothing required is a slip, and refuses.
        assert!(
            Requirement::step_up(Vec::<String>::new(), None)
                .check_at(&fresh_mfa, NOW)
                .is_err()
        );
    }

    #[test]
    fn an_audience_requirement_narrows_the_accepted_audiences() {
        let orders = Requirement::audience("https://orders.example");
        let token = VerifiedToken::for_tests(json!({"aud": ["https://billing.example"]}));
        let err = orders.check(&token).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidAudience);
        assert_eq!(err.bearer_code(), Some("invalid_token"));
        let both = VerifiedToken::for_tests(
            json!({"aud": ["https://billing.example", "https://orders.example"]}),
        );
        assert!(orders.check(&both).is_ok());
        let one = VerifiedToken::for_tests(json!({"aud": "https://orders.example"}));
        assert!(orders.check(&one).is_ok());
        let both_needed = Requirement::new(
            AccessKind::Audience,
            Match::All,
            ["https://billing.example", "https://orders.example"],
        );
        assert!(both_needed.check(&both).is_ok());
        assert!(both_needed.check(&one).is_err());
    }

    #[test]
    fn an_empty_requirement_refuses() {
        let token = VerifiedToken::for_tests(json!({"roles": ["admin"]}));
        assert!(Requirement::role("admin").check(&token).is_ok());
        assert!(
            Requirement::all_roles(Vec::<String>::new())
                .check(&token)
                .is_err()
        );
        assert!(
            Requirement::any_scope(Vec::<String>::new())
                .check(&token)
                .is_err()
        );
    }

    #[test]
    fn a_role_string_is_one_role_and_a_scope_string_a_list() {
        let token =
            VerifiedToken::for_tests(json!({"roles": "Global Admin", "scope": "read write"}));
        assert!(Requirement::role("Admin").check(&token).is_err());
        assert!(Requirement::role("Global").check(&token).is_err());
        assert!(Requirement::role("Global Admin").check(&token).is_ok());
        assert!(
            Requirement::all_scopes(["read", "write"])
                .check(&token)
                .is_ok()
        );
    }
}
