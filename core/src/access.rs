//! Roles and scopes: where they are read from in a token, and requirements on them.

use std::fmt;

use serde_json::{Map, Value};

use crate::error::Error;

/// A path to a claim inside the claim set, such as `realm_access.roles`.
///
/// Segments are separated by dots; use [`ClaimPath::from_segments`] for member names that
/// contain a dot (Auth0-style namespaced claims like `https://example.com/roles`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimPath {
    segments: Vec<String>,
}

impl ClaimPath {
    /// A path from a dotted string: `"resource_access.my-api.roles"`.
    pub fn new(dotted: &str) -> Self {
        Self::from_segments(dotted.split('.'))
    }

    /// A path from its segments, taken literally.
    pub fn from_segments<I>(segments: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self {
            segments: segments.into_iter().map(Into::into).collect(),
        }
    }

    /// The value at this path, if every segment is present.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.segments.split_first()?;
        rest.iter()
            .try_fold(claims.get(first)?, |value, segment| value.get(segment))
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

impl From<&str> for ClaimPath {
    fn from(dotted: &str) -> Self {
        Self::new(dotted)
    }
}

/// Where roles and scopes are read from.
///
/// At each path, a string is split on white space and an array contributes its strings; any
/// other type contributes nothing. The defaults cover the common IdPs:
///
/// | what | default paths |
/// |---|---|
/// | roles | `roles` (Entra ID, Zitadel-style flat claims), `realm_access.roles` (Keycloak) |
/// | scopes | `scope` (RFC 9068, space-separated), `scp` (Entra ID, Okta: array or string), `permissions` (Auth0) |
///
/// Keycloak client roles live under `resource_access.<client>.roles`: add that path with
/// [`AccessPaths::with_role_path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPaths {
    /// Paths read for roles.
    pub roles: Vec<ClaimPath>,
    /// Paths read for scopes.
    pub scopes: Vec<ClaimPath>,
}

impl Default for AccessPaths {
    fn default() -> Self {
        Self {
            roles: vec![
                ClaimPath::new("roles"),
                ClaimPath::new("realm_access.roles"),
            ],
            scopes: vec![
                ClaimPath::new("scope"),
                ClaimPath::new("scp"),
                ClaimPath::new("permissions"),
            ],
        }
    }
}

impl AccessPaths {
    /// Adds a path read for roles.
    pub fn with_role_path(mut self, path: impl Into<ClaimPath>) -> Self {
        self.roles.push(path.into());
        self
    }

    /// Adds a path read for scopes.
    pub fn with_scope_path(mut self, path: impl Into<ClaimPath>) -> Self {
        self.scopes.push(path.into());
        self
    }

    pub(crate) fn values<'a>(
        paths: &'a [ClaimPath],
        claims: &'a Map<String, Value>,
    ) -> impl Iterator<Item = &'a str> + 'a {
        paths
            .iter()
            .filter_map(|path| path.lookup(claims))
            .flat_map(|value| -> Box<dyn Iterator<Item = &'a str> + 'a> {
                match value {
                    Value::String(s) => Box::new(s.split_whitespace()),
                    Value::Array(items) => Box::new(items.iter().filter_map(Value::as_str)),
                    _ => Box::new(std::iter::empty()),
                }
            })
    }
}

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
pub enum Subject {
    /// Roles, read from [`AccessPaths::roles`].
    Role,
    /// Scopes, read from [`AccessPaths::scopes`].
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
    subject: Subject,
    mode: Match,
    values: Vec<String>,
}

impl Requirement {
    /// A requirement on `subject`.
    pub fn new<I>(subject: Subject, mode: Match, values: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self {
            subject,
            mode,
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// The token must have this role.
    pub fn role(role: impl Into<String>) -> Self {
        Self::new(Subject::Role, Match::All, [role])
    }

    /// The token must have at least one of these roles.
    pub fn any_role<I: IntoIterator<Item: Into<String>>>(roles: I) -> Self {
        Self::new(Subject::Role, Match::Any, roles)
    }

    /// The token must have every one of these roles.
    pub fn all_roles<I: IntoIterator<Item: Into<String>>>(roles: I) -> Self {
        Self::new(Subject::Role, Match::All, roles)
    }

    /// The token must have this scope.
    pub fn scope(scope: impl Into<String>) -> Self {
        Self::new(Subject::Scope, Match::All, [scope])
    }

    /// The token must have at least one of these scopes.
    pub fn any_scope<I: IntoIterator<Item: Into<String>>>(scopes: I) -> Self {
        Self::new(Subject::Scope, Match::Any, scopes)
    }

    /// The token must have every one of these scopes.
    pub fn all_scopes<I: IntoIterator<Item: Into<String>>>(scopes: I) -> Self {
        Self::new(Subject::Scope, Match::All, scopes)
    }

    /// Checks the requirement against a verified token.
    pub fn check(&self, token: &crate::VerifiedToken) -> Result<(), Error> {
        let has = |value: &String| match self.subject {
            Subject::Role => token.has_role(value),
            Subject::Scope => token.has_scope(value),
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
        let scope = (self.subject == Subject::Scope).then(|| self.values.join(" "));
        Err(Error::insufficient_scope(self.to_string(), scope))
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (one, many) = match self.subject {
            Subject::Role => ("role", "roles"),
            Subject::Scope => ("scope", "scopes"),
        };
        match (self.values.len(), self.mode) {
            (1, _) => write!(f, "{one} {}", self.values[0]),
            (_, Match::Any) => write!(f, "any of {many} {}", self.values.join(", ")),
            (_, Match::All) => write!(f, "all of {many} {}", self.values.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(paths: &[ClaimPath], claims: Value) -> Vec<String> {
        AccessPaths::values(paths, claims.as_object().unwrap())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn default_paths_cover_the_common_idps() {
        let paths = AccessPaths::default();
        let claims = json!({
            "roles": ["a"],
            "realm_access": {"roles": ["b", 5]},
            "scope": "read  write",
            "scp": ["x"],
            "permissions": "p q",
        });
        assert_eq!(values(&paths.roles, claims.clone()), ["a", "b"]);
        assert_eq!(
            values(&paths.scopes, claims),
            ["read", "write", "x", "p", "q"]
        );
    }

    #[test]
    fn wrong_types_contribute_nothing() {
        let paths = AccessPaths::default();
        let claims = json!({"roles": {"admin": true}, "realm_access": "admin", "scope": 7});
        assert!(values(&paths.roles, claims.clone()).is_empty());
        assert!(values(&paths.scopes, claims).is_empty());
    }

    #[test]
    fn an_empty_requirement_refuses() {
        let token = crate::VerifiedToken::for_tests(json!({"roles": ["admin"]}));
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
    fn nested_and_literal_paths() {
        let claims =
            json!({"resource_access": {"my-api": {"roles": ["ops"]}}, "https://x.io/roles": ["r"]});
        let nested = [ClaimPath::new("resource_access.my-api.roles")];
        assert_eq!(values(&nested, claims.clone()), ["ops"]);
        let literal = [ClaimPath::from_segments(["https://x.io/roles"])];
        assert_eq!(values(&literal, claims), ["r"]);
    }
}
