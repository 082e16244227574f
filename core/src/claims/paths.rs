//! Claim paths: where roles and scopes are read from in a token.

use std::fmt;

use serde_json::{Map, Value};

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
/// At each path an array contributes its strings. A string is one role at a role path (so
/// `"roles": "Global Admin"` is the role `Global Admin`, never the role `Admin`), and a list
/// separated by white space at a scope path (RFC 9068 `scope`, Entra ID's `scp`). Any other
/// type contributes nothing. The defaults cover the common IdPs:
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

    /// The roles in `claims`: a string is one role.
    pub(crate) fn roles_in<'a>(
        &'a self,
        claims: &'a Map<String, Value>,
    ) -> impl Iterator<Item = &'a str> + 'a {
        values(&self.roles, claims, false)
    }

    /// The scopes in `claims`: a string is a list separated by white space.
    pub(crate) fn scopes_in<'a>(
        &'a self,
        claims: &'a Map<String, Value>,
    ) -> impl Iterator<Item = &'a str> + 'a {
        values(&self.scopes, claims, true)
    }
}

fn values<'a>(
    paths: &'a [ClaimPath],
    claims: &'a Map<String, Value>,
    split: bool,
) -> impl Iterator<Item = &'a str> + 'a {
    paths
        .iter()
        .filter_map(|path| path.lookup(claims))
        .flat_map(move |value| -> Box<dyn Iterator<Item = &'a str> + 'a> {
            match value {
                Value::String(s) if split => Box::new(s.split_whitespace()),
                Value::String(s) => Box::new(std::iter::once(s.as_str())),
                Value::Array(items) => Box::new(items.iter().filter_map(Value::as_str)),
                _ => Box::new(std::iter::empty()),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(paths: &[ClaimPath], claims: Value) -> Vec<String> {
        super::values(paths, claims.as_object().unwrap(), true)
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
        let claims = claims.as_object().unwrap();
        assert_eq!(paths.roles_in(claims).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            paths.scopes_in(claims).collect::<Vec<_>>(),
            ["read", "write", "x", "p", "q"]
        );
    }

    #[test]
    fn wrong_types_contribute_nothing() {
        let paths = AccessPaths::default();
        let claims = json!({"roles": {"admin": true}, "realm_access": "admin", "scope": 7});
        let claims = claims.as_object().unwrap();
        assert_eq!(paths.roles_in(claims).count(), 0);
        assert_eq!(paths.scopes_in(claims).count(), 0);
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
