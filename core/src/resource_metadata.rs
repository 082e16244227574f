//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document a resource server publishes
//! at `/.well-known/oauth-protected-resource`, so that a client (an MCP client, say) finds the
//! authorization server on its own, from a 401's `resource_metadata`.
//!
//! [`ResourceMetadata::for_authenticator`] fills it from the configuration: the resource, the
//! trusted issuers, how tokens may be sent, and DPoP. The adapters serve it
//! (`jwtguard::axum::resource_metadata_router`, `jwtguard::actix::resource_metadata_service`),
//! and [`Authenticator::resource_metadata_url`] names it in every challenge.
//!
//! ```
//! # async fn run() -> Result<(), jwtguard_core::Error> {
//! use jwtguard_core::{Authenticator, Validator};
//! use jwtguard_core::resource_metadata::ResourceMetadata;
//!
//! let validator = Validator::builder()
//!     .issuer("https://idp.example.com")
//!     .audience("https://api.example.com/mcp")
//!     .build()
//!     .await?;
//! let authenticator = Authenticator::new(validator);
//! let metadata = ResourceMetadata::for_authenticator("https://api.example.com/mcp", &authenticator)?
//!     .scopes_supported(["tools:read", "tools:call"])
//!     .resource_name("Example tools");
//! // The path-suffixed form of RFC 9728 §3.1, since the resource has a path.
//! assert_eq!(
//!     metadata.url(),
//!     "https://api.example.com/.well-known/oauth-protected-resource/mcp"
//! );
//! let authenticator = authenticator.resource_metadata_url(metadata.url());
//! # let _ = authenticator;
//! # Ok(()) }
//! ```

use serde::Serialize;
use url::Url;

use crate::error::{Error, ErrorKind};
use crate::provider::http::is_loopback;
use crate::request::{Authenticator, TokenLocation};

/// The well-known path of the metadata (RFC 9728 §3).
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// The `Cache-Control` the adapters serve the metadata with: clients may keep it for an hour.
pub const CACHE_CONTROL: &str = "public, max-age=3600";

/// The metadata of one protected resource (RFC 9728 §2), and the URL it is served at.
///
/// Fields left empty are left out of the document. `resource_signing_alg_values_supported`
/// is about responses the resource signs, not about tokens: it stays out unless set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceMetadata {
    resource: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resource_signing_alg_values_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_documentation: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dpop_signing_alg_values_supported: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dpop_bound_access_tokens_required: bool,
    #[serde(skip)]
    url: Url,
}

/// An absolute `https` URL (or `http` on loopback) without user information, query or
/// fragment: what RFC 9728 allows for the resource (it only advises against a query), and what
/// can be routed and named in a challenge for the metadata.
fn checked_url(value: &str, what: &str) -> Result<Url, Error> {
    let config = |detail: String| Error::new(ErrorKind::Config, detail);
    let url = Url::parse(value).map_err(|err| config(format!("the {what} is not a URL: {err}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        _ => {
            return Err(config(format!(
                "the {what} must be an https URL (plain http only on loopback)"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(config(format!("the {what} must not name a user")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config(format!(
            "the {what} must not have a query or a fragment"
        )));
    }
    Ok(url)
}

impl ResourceMetadata {
    /// The metadata of `resource`, the resource identifier (RFC 8707): the audience its tokens
    /// carry. Served at the URL RFC 9728 §3.1 derives from it: the well-known path inserted
    /// between the host and the resource's path, `https://api.example.com/mcp` →
    /// `https://api.example.com/.well-known/oauth-protected-resource/mcp` (see
    /// [`served_at`](Self::served_at) for another).
    ///
    /// Fails with [`ErrorKind::Config`] unless `resource` is an `https` URL (`http` on a
    /// loopback host) without user information, a query or a fragment.
    ///
    /// ```
    /// use jwtguard_core::resource_metadata::ResourceMetadata;
    ///
    /// let metadata = ResourceMetadata::new("https://api.example.com")?
    ///     .authorization_servers(["https://idp.example.com"]);
    /// assert_eq!(metadata.url(), "https://api.example.com/.well-known/oauth-protected-resource");
    /// assert_eq!(
    ///     metadata.to_json(),
    ///     r#"{"resource":"https://api.example.com","authorization_servers":["https://idp.example.com"]}"#
    /// );
    /// assert!(ResourceMetadata::new("http://api.example.com").is_err());
    /// # Ok::<(), jwtguard_core::Error>(())
    /// ```
    pub fn new(resource: impl Into<String>) -> Result<Self, Error> {
        let resource = resource.into();
        let parsed = checked_url(&resource, "resource")?;
        let mut url = parsed.clone();
        // The resource's own path follows the well-known path, without a trailing slash; the
        // root adds nothing.
        let path = parsed.path().trim_end_matches('/');
        url.set_path(&format!("{WELL_KNOWN_PATH}{path}"));
        Ok(Self {
            resource,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            bearer_methods_supported: Vec::new(),
            resource_signing_alg_values_supported: Vec::new(),
            resource_name: None,
            resource_documentation: None,
            dpop_signing_alg_values_supported: Vec::new(),
            dpop_bound_access_tokens_required: false,
            url,
        })
    }

    /// The metadata of `resource` as `authenticator` is configured:
    /// - `authorization_servers`: the validator's trusted issuers (issuer templates, which
    ///   name no one server, are left out);
    /// - `bearer_methods_supported`: `header` when tokens are read from `Authorization` (as
    ///   `Bearer` or `DPoP`), the only one of RFC 6750's methods jwtguard reads (a cookie or
    ///   another header has no value here, and API keys are not OAuth tokens);
    /// - with DPoP: `dpop_signing_alg_values_supported`, the proof algorithms, and
    ///   `dpop_bound_access_tokens_required` when DPoP is required.
    ///
    /// Fails with [`ErrorKind::Config`] as [`new`](Self::new) does, and when the validator
    /// checks audiences and `resource` is none of them: its tokens would all be refused.
    pub fn for_authenticator(
        resource: impl Into<String>,
        authenticator: &Authenticator,
    ) -> Result<Self, Error> {
        let mut metadata = Self::new(resource)?;
        let validator = authenticator.validator();
        let mut audiences = validator.audiences().peekable();
        if audiences.peek().is_some() && !audiences.any(|audience| audience == metadata.resource) {
            return Err(Error::new(
                ErrorKind::Config,
                "the resource is none of the validator's audiences: tokens for it would be refused",
            ));
        }
        metadata.authorization_servers = validator.exact_issuers().map(str::to_owned).collect();
        let header = (authenticator.locations().iter())
            .any(|location| matches!(location, TokenLocation::Bearer))
            || authenticator.dpop_verifier().is_some();
        if header {
            metadata.bearer_methods_supported = vec!["header".to_owned()];
        }
        if let Some(dpop) = authenticator.dpop_verifier() {
            metadata.dpop_signing_alg_values_supported = (dpop.algorithms().iter())
                .map(|algorithm| algorithm.as_str().to_owned())
                .collect();
            metadata.dpop_bound_access_tokens_required =
                dpop.mode() == crate::dpop::DpopMode::Required;
        }
        Ok(metadata)
    }

    /// Serves the metadata at `url` instead of the URL derived from the resource: when the
    /// resource identifier is not where the server is reached (an audience such as
    /// `https://api.example.test` for a server on `http://127.0.0.1:8080`). A client that
    /// follows RFC 9728 §3.3 to the letter checks that `resource` names the server it called,
    /// so prefer a resource that does. Fails with [`ErrorKind::Config`] unless `url` is an
    /// `https` URL (`http` on loopback) without user information, a query or a fragment.
    pub fn served_at(mut self, url: &str) -> Result<Self, Error> {
        self.url = checked_url(url, "metadata URL")?;
        Ok(self)
    }

    /// The authorization servers whose tokens the resource accepts (their issuer identifiers),
    /// replacing those set before.
    pub fn authorization_servers<I: IntoIterator<Item: Into<String>>>(
        mut self,
        issuers: I,
    ) -> Self {
        self.authorization_servers = issuers.into_iter().map(Into::into).collect();
        self
    }

    /// The scopes the resource uses in its requirements (RFC 9728 recommends listing them).
    /// Default: none listed.
    pub fn scopes_supported<I: IntoIterator<Item: Into<String>>>(mut self, scopes: I) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How tokens may be sent: `header`, `body` or `query` (RFC 6750), replacing what
    /// [`for_authenticator`](Self::for_authenticator) found.
    pub fn bearer_methods_supported<I: IntoIterator<Item: Into<String>>>(
        mut self,
        methods: I,
    ) -> Self {
        self.bearer_methods_supported = methods.into_iter().map(Into::into).collect();
        self
    }

    /// The algorithms the resource signs its responses with, if it signs them. Default: none.
    pub fn resource_signing_alg_values_supported<I: IntoIterator<Item: Into<String>>>(
        mut self,
        algorithms: I,
    ) -> Self {
        self.resource_signing_alg_values_supported =
            algorithms.into_iter().map(Into::into).collect();
        self
    }

    /// A name for people to read. Default: none.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The URL of documentation for developers. Default: none.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// The resource identifier.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Where the metadata is served: what `resource_metadata` in the challenges names.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The path of [`url`](Self::url), for routing it.
    pub fn path(&self) -> &str {
        self.url.path()
    }

    /// The document, as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_key::{ApiKeys, MemoryApiKeyStore};
    use crate::dpop::{DpopMode, DpopVerifier};
    use crate::keys::KeySet;
    use crate::request::ApiKeyLocation;
    use crate::validator::Validator;

    fn keys() -> KeySet {
        KeySet::from_jwks(
            br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
            &[crate::jose::Algorithm::EdDSA],
        )
        .unwrap()
    }

    async fn authenticator() -> Authenticator {
        let validator = Validator::builder()
            .issuer("https://idp.example.com")
            .key_set(keys())
            .issuer("https://idp2.example.com")
            .key_set(keys())
            .audience("https://api.example.com/mcp")
            .build()
            .await
            .unwrap();
        Authenticator::new(validator)
    }

    #[test]
    fn the_url_is_derived_from_the_resource_with_its_path_as_suffix() {
        for (resource, url, path) in [
            (
                "https://api.example.com",
                "https://api.example.com/.well-known/oauth-protected-resource",
                "/.well-known/oauth-protected-resource",
            ),
            (
                "https://api.example.com/",
                "https://api.example.com/.well-known/oauth-protected-resource",
                "/.well-known/oauth-protected-resource",
            ),
            (
                "https://api.example.com:8443/tenants/a/mcp",
                "https://api.example.com:8443/.well-known/oauth-protected-resource/tenants/a/mcp",
                "/.well-known/oauth-protected-resource/tenants/a/mcp",
            ),
            (
                "http://127.0.0.1:9000/mcp",
                "http://127.0.0.1:9000/.well-known/oauth-protected-resource/mcp",
                "/.well-known/oauth-protected-resource/mcp",
            ),
        ] {
            let metadata = ResourceMetadata::new(resource).unwrap();
            assert_eq!((metadata.url(), metadata.path()), (url, path), "{resource}");
            assert_eq!(metadata.resource(), resource);
        }
        for refused in [
            "api.example.com",
            "http://api.example.com",
            "https://api.example.com/#top",
            "https://api.example.com/?tenant=a",
            "https://user:secret@api.example.com/",
            "ftp://api.example.com",
        ] {
            let err = ResourceMetadata::new(refused).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{refused}");
        }
        let moved = ResourceMetadata::new("https://api.example.test")
            .unwrap()
            .served_at("http://127.0.0.1:8080/.well-known/oauth-protected-resource")
            .unwrap();
        assert_eq!(moved.path(), WELL_KNOWN_PATH);
        for refused in [
            "http://10.0.0.1/x",
            "https://h.example/?x=/a",
            "https://h.example/#a",
            "https://u@h.example/",
        ] {
            let moved = ResourceMetadata::new("https://api.example.test")
                .unwrap()
                .served_at(refused);
            assert!(moved.is_err(), "{refused}");
        }
        // Dot segments are resolved as a URL parser does, and the path routed is the one the
        // URL names.
        let odd = ResourceMetadata::new("https://api.example.com/a/../mcp/").unwrap();
        assert_eq!(odd.path(), "/.well-known/oauth-protected-resource/mcp");
        let ipv6 = ResourceMetadata::new("http://[::1]:8080/mcp").unwrap();
        assert_eq!(
            ipv6.url(),
            "http://[::1]:8080/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[tokio::test]
    async fn the_document_follows_the_authenticator() {
        let metadata = ResourceMetadata::for_authenticator(
            "https://api.example.com/mcp",
            &authenticator().await,
        )
        .unwrap()
        .scopes_supported(["read", "write"])
        .resource_name("Example")
        .resource_documentation("https://docs.example.com");
        let json: serde_json::Value = serde_json::from_str(&metadata.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "resource": "https://api.example.com/mcp",
                "authorization_servers": ["https://idp.example.com", "https://idp2.example.com"],
                "scopes_supported": ["read", "write"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Example",
                "resource_documentation": "https://docs.example.com",
            })
        );
        let dpop = DpopVerifier::builder()
            .public_url("https://api.example.com")
            .mode(DpopMode::Required)
            .build()
            .unwrap();
        let query = ApiKeyLocation::Query("api_key".into());
        let authenticator = authenticator()
            .await
            .token_locations([TokenLocation::Cookie("session".into())])
            .unwrap()
            .dpop(dpop);
        let authenticator = authenticator
            .api_keys(
                ApiKeys::new(std::sync::Arc::new(MemoryApiKeyStore::new())),
                query,
            )
            .unwrap();
        let metadata =
            ResourceMetadata::for_authenticator("https://api.example.com/mcp", &authenticator)
                .unwrap();
        let json: serde_json::Value = serde_json::from_str(&metadata.to_json()).unwrap();
        // Tokens only in a cookie, but DPoP reads `Authorization`; an API key in the query is
        // no bearer method.
        assert_eq!(
            json["bearer_methods_supported"],
            serde_json::json!(["header"])
        );
        assert_eq!(
            json["dpop_signing_alg_values_supported"],
            serde_json::json!(["ES256", "RS256", "PS256", "EdDSA"])
        );
        assert_eq!(json["dpop_bound_access_tokens_required"], true);
        assert!(json.get("resource_signing_alg_values_supported").is_none());
        let elsewhere =
            ResourceMetadata::for_authenticator("https://other.example.com", &authenticator);
        assert_eq!(elsewhere.unwrap_err().kind(), ErrorKind::Config);
        let cookie_only = Authenticator::new(authenticator.validator().clone())
            .token_locations([TokenLocation::Cookie("session".into())])
            .unwrap();
        let metadata =
            ResourceMetadata::for_authenticator("https://api.example.com/mcp", &cookie_only)
                .unwrap();
        assert!(!metadata.to_json().contains("bearer_methods_supported"));
    }
}
