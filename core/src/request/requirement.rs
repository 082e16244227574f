//! Requirements on roles and scopes, checked against a verified token: what the guards of
//! both adapters declare.

use std::fmt;
use std::sync::OnceLock;

use crate::error::Error;
use crate::validator::token::VerifiedToken;

/// Whether all or any of a requirement's values must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// At least one of the values.
    Any,
    /// Every value.
    All,
}

/// What a requirement is about: roles or scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKind {
    /// Roles, read from [`AccessPaths::roles`](crate::claims::AccessPaths::roles).
    Role,
    /// Scopes, read from [`AccessPaths::scopes`](crate::claims::AccessPaths::scopes).
    Scope,
}

/// A role or scope requirement, checked against a verified token. A failure is
/// [`ErrorKind::InsufficientScope`](crate::ErrorKind::InsufficientScope) (403).
///
/// ```
/// use jwtguard_core::Requirement;
///
/// let admin = Requirement::role("admin");
/// let write = Requirement::all_scopes(["orders:read", "orders:write"]);
/// assert_eq!(admin.to_string(), "role admin");
/// assert_eq!(write.to_string(), "all of scopes orders:read, orders:write");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    kind: AccessKind,
    mode: Match,
    values: Vec<String>,
}

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

    /// What the requirement is about.
    pub fn kind(&self) -> AccessKind {
        self.kind
    }

    /// Whether all or any of the values must be present.
    pub fn mode(&self) -> Match {
        self.mode
    }

    /// The roles or scopes.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Checks the requirement against a verified token.
    pub fn check(&self, token: &VerifiedToken) -> Result<(), Error> {
        let has = |value: &String| match self.kind {
            AccessKind::Role => token.has_role(value),
            AccessKind::Scope => token.has_scope(value),
        };
        // An empty requirement is a configuration slip: it refuses rather than lets all in.
        let ok = !self.values.is_empty()
            && match self.mode {
                Match::Any => self.values.iter().any(has),
                Match::All => self.values.iter().all(has),
            };
        if ok {
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
