//! Who an API key stands for.

use serde::{Deserialize, Serialize};

/// Who an API key stands for: the principal a request carrying the key acts as.
///
/// It holds no secret: the key itself is never part of it. `roles` and `scopes` are empty
/// when absent from a serialized principal.
///
/// ```
/// use jwtguard_core::api_key::ApiKeyPrincipal;
///
/// let principal = ApiKeyPrincipal::new("batch-job").with_roles(["admin"]).with_scopes(["write"]);
/// assert_eq!(principal.sub, "batch-job");
/// assert_eq!(principal.roles, ["admin"]);
/// assert_eq!(principal.scopes, ["write"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyPrincipal {
    /// The subject the key stands for (a service, a job, a partner).
    pub sub: String,
    /// The roles granted to the key's holder.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The scopes granted to the key's holder.
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl ApiKeyPrincipal {
    /// A principal for `sub`, with no roles and no scopes.
    pub fn new(sub: impl Into<String>) -> Self {
        Self {
            sub: sub.into(),
            roles: Vec::new(),
            scopes: Vec::new(),
        }
    }

    /// The principal with these roles (in place of any it had).
    #[must_use]
    pub fn with_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// The principal with these scopes (in place of any it had).
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
}

/// Whether `scope` is an RFC 6749 §3.3 `scope-token`: one or more of `%x21 / %x23-5B /
/// %x5D-7E` (no space, `"` or `\\`). A scope with a space inside would read as two.
pub(crate) fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_tokens_are_rfc_6749s() {
        assert!(is_scope_token("orders:write"));
        for bad in ["", "read write", "a\"b", "a\\b", "tab\t", "é"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn roles_and_scopes_default_to_empty() {
        let principal: ApiKeyPrincipal = serde_json::from_str(r#"{"sub": "job"}"#).unwrap();
        assert_eq!(principal, ApiKeyPrincipal::new("job"));
        let json = serde_json::to_string(&principal.with_roles(["admin"])).unwrap();
        assert_eq!(json, r#"{"sub":"job","roles":["admin"],"scopes":[]}"#);
    }
}
