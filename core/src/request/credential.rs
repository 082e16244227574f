//! The credentials beside the bearer token: where a request's API key is
//! ([`ApiKeyLocation`]), which credential wins when a request carries two
//! ([`CredentialOrder`]), and the verified-token value an API key becomes.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use super::location::{RequestView, one_header_value, single_header};
use crate::api_key::ApiKeyPrincipal;
use crate::api_key::principal::is_scope_token;
use crate::claims::{AccessPaths, ClaimPath};
use crate::error::{Error, ErrorKind};
use crate::validator::token::{CredentialKind, VerifiedToken};

/// The header an API key is read from by default.
pub const DEFAULT_API_KEY_HEADER: &str = "X-API-Key";

/// The `Authorization` scheme of [`ApiKeyLocation::authorization`].
pub const API_KEY_SCHEME: &str = "ApiKey";

/// Where a request's API key is read from. Default: the `X-API-Key` header.
///
/// Each location also names the challenge a refusal carries (RFC 9110 §11.6.1), in the
/// shape of OpenAPI's `apiKey` security scheme:
///
/// | location | challenge |
/// |---|---|
/// | `Header("X-API-Key")` | `ApiKey in="header", name="X-API-Key"` |
/// | `Authorization("ApiKey")` | `ApiKey` |
/// | `Query("api_key")` | `ApiKey in="query", name="api_key"` |
///
/// ```
/// use jwtguard_core::request::ApiKeyLocation;
///
/// assert_eq!(ApiKeyLocation::default(), ApiKeyLocation::Header("X-API-Key".into()));
/// assert_eq!(ApiKeyLocation::authorization(), ApiKeyLocation::Authorization("ApiKey".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiKeyLocation {
    /// The header with this name, whose whole value is the key. Sent twice, or empty, it is
    /// `invalid_request` (400).
    Header(String),
    /// `Authorization: <scheme> <key>`, the scheme (a token, not `Bearer`) matched
    /// case-insensitively.
    Authorization(String),
    /// The query parameter with this name. Only when chosen: URLs end up in access logs,
    /// browser histories and `Referer` headers, so a key there leaks far more easily than in a
    /// header. Named twice, or empty, it is `invalid_request` (400).
    Query(String),
}

impl Default for ApiKeyLocation {
    fn default() -> Self {
        Self::Header(DEFAULT_API_KEY_HEADER.to_owned())
    }
}

impl ApiKeyLocation {
    /// `Authorization: ApiKey <key>`.
    pub fn authorization() -> Self {
        Self::Authorization(API_KEY_SCHEME.to_owned())
    }

    /// A location that can't work is a [`ErrorKind::Config`] error: a name that is not an
    /// HTTP token, a header the bearer token or cookies use, or the `Bearer` scheme.
    pub(super) fn checked(self) -> Result<Self, Error> {
        let (name, what) = match &self {
            Self::Header(name) => (name, "header name"),
            Self::Authorization(scheme) => (scheme, "Authorization scheme"),
            Self::Query(name) => (name, "query parameter"),
        };
        // A query parameter's name too, so that the challenge can name it exactly.
        let fits = is_token(name);
        let taken = match &self {
            Self::Header(name) => {
                name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("cookie")
            }
            Self::Authorization(scheme) => {
                scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop")
            }
            Self::Query(_) => false,
        };
        if !fits || taken {
            return Err(Error::new(
                ErrorKind::Config,
                format!("{name:?} can't be the API key's {what}"),
            ));
        }
        Ok(self)
    }

    /// The request's API key: `None` without one.
    pub(super) fn find<'r>(
        &self,
        request: &'r dyn RequestView,
    ) -> Result<Option<Cow<'r, str>>, Error> {
        match self {
            Self::Header(name) => Ok(single_header(request, name, "API key")?.map(Cow::Borrowed)),
            Self::Authorization(scheme) => authorization_key(request, scheme),
            Self::Query(name) => query_key(request, name),
        }
    }

    /// The challenge that names this location, without parameters after its own.
    pub(super) fn challenge(&self) -> (&str, Vec<(&'static str, &str)>) {
        match self {
            Self::Header(name) => (API_KEY_SCHEME, vec![("in", "header"), ("name", name)]),
            Self::Authorization(scheme) => (scheme, Vec::new()),
            Self::Query(name) => (API_KEY_SCHEME, vec![("in", "query"), ("name", name)]),
        }
    }
}

/// The key of `Authorization: <scheme> <key>`. Another scheme is no key; more than one
/// `Authorization` header, or an empty key, is [`ErrorKind::InvalidRequest`].
fn authorization_key<'r>(
    request: &'r dyn RequestView,
    scheme: &str,
) -> Result<Option<Cow<'r, str>>, Error> {
    let Some(value) = one_header_value(request, "authorization", "Authorization")? else {
        return Ok(None);
    };
    let Ok(value) = std::str::from_utf8(value) else {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            "the Authorization header is not text",
        ));
    };
    let (named, key) = value.split_once(' ').unwrap_or((value, ""));
    if !named.eq_ignore_ascii_case(scheme) {
        return Ok(None);
    }
    let key = key.trim();
    if key.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            "the Authorization header carries an empty API key",
        ));
    }
    Ok(Some(Cow::Borrowed(key)))
}

/// The query parameter `name`, percent-decoded. Named twice, or empty, is
/// [`ErrorKind::InvalidRequest`].
fn query_key<'r>(request: &'r dyn RequestView, name: &str) -> Result<Option<Cow<'r, str>>, Error> {
    let Some(query) = request.query() else {
        return Ok(None);
    };
    let mut found = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value);
    let first = found.next();
    if found.next().is_some() {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            "the API key's query parameter is named more than once",
        ));
    }
    match first {
        Some(value) if value.is_empty() => Err(Error::new(
            ErrorKind::InvalidRequest,
            "the API key's query parameter is empty",
        )),
        other => Ok(other),
    }
}

/// `token = 1*tchar` (RFC 9110 §5.6.2).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// What happens to a request that carries both a bearer token and an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CredentialOrder {
    /// It is refused as `invalid_request` (400): a client sends one credential. The default.
    #[default]
    OneOnly,
    /// The bearer token is checked and the API key ignored.
    TokenFirst,
    /// The API key is checked and the bearer token ignored.
    ApiKeyFirst,
}

/// Where the roles and scopes of an API key's claim set are: exactly `roles` and `scope`.
static API_KEY_ACCESS: LazyLock<Arc<AccessPaths>> = LazyLock::new(|| {
    Arc::new(AccessPaths {
        roles: vec![ClaimPath::new("roles")],
        scopes: vec![ClaimPath::new("scope")],
    })
});

/// The verified-token value of an API key's principal: the claims `sub`, `roles` (an array)
/// and `scope` (space-separated, as in RFC 9068), so that guards and typed claims work as
/// for a JWT.
///
/// A scope that is not an RFC 6749 scope token (one with a space inside would read as two) is
/// [`ErrorKind::Misconfigured`]: the store holds a principal it should not.
pub(super) fn api_key_token(principal: &ApiKeyPrincipal) -> Result<VerifiedToken, Error> {
    if !principal.scopes.iter().all(|scope| is_scope_token(scope)) {
        return Err(Error::new(
            ErrorKind::Misconfigured,
            "an API key's principal has a scope that is not a scope token",
        ));
    }
    let claims = serde_json::json!({
        "sub": principal.sub,
        "roles": principal.roles,
        "scope": principal.scopes.join(" "),
    });
    let bytes = serde_json::to_vec(&claims).map_err(|error| {
        Error::new(
            ErrorKind::Malformed,
            "an API key's principal can't be written",
        )
        .with_source(error)
    })?;
    VerifiedToken::from_claims(CredentialKind::ApiKey, bytes, Arc::clone(&API_KEY_ACCESS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::location::HeaderPairs;

    fn find(
        location: &ApiKeyLocation,
        headers: &[(&str, &str)],
        query: Option<&str>,
    ) -> Result<Option<String>, ErrorKind> {
        location
            .find(&HeaderPairs::new(headers).with_query(query))
            .map(|key| key.map(Cow::into_owned))
            .map_err(|error| error.kind())
    }

    #[test]
    fn a_header_holds_the_key() {
        let header = ApiKeyLocation::default();
        assert_eq!(
            find(&header, &[("x-api-key", " k1 ")], None),
            Ok(Some("k1".into()))
        );
        assert_eq!(find(&header, &[], Some("api_key=k1")), Ok(None));
        assert_eq!(
            find(&header, &[("X-API-Key", "a"), ("X-API-Key", "b")], None),
            Err(ErrorKind::InvalidRequest)
        );
        assert_eq!(
            find(&header, &[("X-API-Key", "")], None),
            Err(ErrorKind::InvalidRequest)
        );
    }

    #[test]
    fn the_authorization_scheme_holds_the_key() {
        let scheme = ApiKeyLocation::authorization();
        assert_eq!(
            find(&scheme, &[("Authorization", "apikey k2")], None),
            Ok(Some("k2".into()))
        );
        assert_eq!(
            find(&scheme, &[("Authorization", "Bearer a.b.c")], None),
            Ok(None)
        );
        assert_eq!(
            find(&scheme, &[("Authorization", "ApiKey ")], None),
            Err(ErrorKind::InvalidRequest)
        );
        assert_eq!(
            find(
                &scheme,
                &[("Authorization", "ApiKey a"), ("Authorization", "ApiKey b")],
                None
            ),
            Err(ErrorKind::InvalidRequest)
        );
    }

    #[test]
    fn the_query_is_read_only_when_chosen() {
        let query = ApiKeyLocation::Query("api_key".into());
        assert_eq!(
            find(&query, &[], Some("a=1&api_key=k%2B3")),
            Ok(Some("k+3".into()))
        );
        assert_eq!(find(&query, &[], None), Ok(None));
        assert_eq!(find(&query, &[], Some("other=1")), Ok(None));
        assert_eq!(
            find(&query, &[], Some("api_key=a&api_key=b")),
            Err(ErrorKind::InvalidRequest)
        );
        assert_eq!(
            find(&query, &[], Some("api_key=")),
            Err(ErrorKind::InvalidRequest)
        );
    }

    #[test]
    fn locations_that_cannot_work_are_configuration_errors() {
        for location in [
            ApiKeyLocation::Header("Authorization".into()),
            ApiKeyLocation::Header("cookie".into()),
            ApiKeyLocation::Header("X API Key".into()),
            ApiKeyLocation::Header(String::new()),
            ApiKeyLocation::Authorization("bearer".into()),
            ApiKeyLocation::Authorization("Api Key".into()),
            ApiKeyLocation::Query(String::new()),
            ApiKeyLocation::Query("clé\"x".into()),
        ] {
            let error = location.checked().unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Config);
        }
        assert!(ApiKeyLocation::default().checked().is_ok());
        assert!(ApiKeyLocation::authorization().checked().is_ok());
    }

    #[test]
    fn an_api_key_becomes_claims_that_guards_read() {
        let principal = ApiKeyPrincipal::new("batch-job")
            .with_roles(["admin"])
            .with_scopes(["read", "write"]);
        let token = api_key_token(&principal).unwrap();
        assert_eq!(token.credential(), CredentialKind::ApiKey);
        assert_eq!(token.subject(), Some("batch-job"));
        assert!(token.has_role("admin"));
        assert!(token.has_scope("write"));
        assert!(token.header().is_none());
        assert_eq!(
            serde_json::Value::Object(token.claims().clone()),
            serde_json::json!({"sub": "batch-job", "roles": ["admin"], "scope": "read write"})
        );
        let two_in_one = ApiKeyPrincipal::new("job").with_scopes(["read write"]);
        assert_eq!(
            api_key_token(&two_in_one).unwrap_err().kind(),
            ErrorKind::Misconfigured
        );
    }
}
