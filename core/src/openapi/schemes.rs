//! The security schemes an authenticator accepts, as OpenAPI security schemes.

use std::collections::BTreeSet;

use utoipa::Modify;
use utoipa::openapi::OpenApi;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, ClientCredentials, Flow, Http, HttpAuthScheme, OAuth2, OpenIdConnect,
    Scopes, SecurityRequirement, SecurityScheme,
};

use super::operations::{self, Lists};
use crate::dpop::DpopMode;
use crate::request::{ApiKeyLocation, Authenticator, TokenLocation};

/// One scheme of the document, and what its requirement lists name.
#[derive(Clone)]
struct NamedScheme {
    name: String,
    lists: Lists,
    kind: SchemeKind,
}

#[derive(Clone)]
enum SchemeKind {
    /// Made whole when the document's scopes are known (the flow lists them).
    ClientCredentials {
        token_url: String,
        dpop_required: bool,
    },
    Ready(SecurityScheme),
}

/// The security of an OpenAPI document, from an [`Authenticator`]'s configuration: its
/// schemes (see the [module](super) for the table) and, through the guards, each operation's
/// requirement. Apply it with [`apply`](Self::apply) to the document
/// `#[derive(utoipa::OpenApi)]` makes; it is also a [`Modify`].
#[derive(Clone)]
pub struct OpenApiSecurity {
    schemes: Vec<NamedScheme>,
    every_route: bool,
    /// DPoP is required: bearer tokens are refused.
    dpop_required: bool,
}

impl std::fmt::Debug for OpenApiSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApiSecurity")
            .field("schemes", &self.scheme_names().collect::<Vec<_>>())
            .field("every_route", &self.every_route)
            .finish()
    }
}

fn numbered(base: &str, index: usize) -> String {
    if index == 0 {
        base.to_owned()
    } else {
        format!("{base}_{}", index + 1)
    }
}

fn extensions<const N: usize>(members: [(&str, serde_json::Value); N]) -> Option<Extensions> {
    Some(members.into_iter().collect())
}

impl OpenApiSecurity {
    /// The schemes `authenticator` accepts, without I/O: no `oauth2` scheme unless
    /// [`client_credentials`](Self::client_credentials) names the token URL (or use
    /// [`discover`](Self::discover)).
    pub fn new(authenticator: &Authenticator) -> Self {
        Self::build(authenticator, |_| true)
    }

    /// The schemes of `authenticator`, with an `openid` scheme for each discovered issuer
    /// that `openid` keeps.
    fn build(authenticator: &Authenticator, openid: impl Fn(&str) -> bool) -> Self {
        let validator = authenticator.validator();
        let dpop_required = authenticator
            .dpop_verifier()
            .is_some_and(|dpop| dpop.mode() == DpopMode::Required);
        let mut schemes = Vec::new();
        let discovered = validator
            .issuers()
            .filter(|issuer| openid(issuer))
            .filter_map(|issuer| validator.discovery_url(issuer));
        for (index, url) in discovered.enumerate() {
            let mut scheme = OpenIdConnect::with_description(
                url.to_string(),
                "OpenID Connect: an access token from this provider".to_owned(),
            );
            scheme.extensions = dpop_required
                .then(|| extensions([("x-dpop-required", true.into())]))
                .flatten();
            schemes.push(NamedScheme {
                name: numbered("openid", index),
                lists: Lists::Scopes,
                kind: SchemeKind::Ready(SecurityScheme::OpenIdConnect(scheme)),
            });
        }
        let jwt = !authenticator.introspects_every_token();
        let (mut cookies, mut headers) = (0, 0);
        for location in authenticator.locations() {
            let (name, scheme) = match location {
                // DPoP required: a bearer token is refused, the `dpop` scheme says what to send.
                TokenLocation::Bearer if dpop_required => continue,
                TokenLocation::Bearer => {
                    let mut http = Http::new(HttpAuthScheme::Bearer);
                    http.bearer_format = jwt.then(|| "JWT".to_owned());
                    http.description = Some("An access token in `Authorization: Bearer`".into());
                    ("bearer".to_owned(), SecurityScheme::Http(http))
                }
                TokenLocation::Cookie(cookie) => {
                    cookies += 1;
                    (
                        numbered("token_cookie", cookies - 1),
                        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                            cookie.clone(),
                            "An access token in this cookie".to_owned(),
                        ))),
                    )
                }
                TokenLocation::Header(header) => {
                    headers += 1;
                    (
                        numbered("token_header", headers - 1),
                        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                            header.clone(),
                            "An access token, the header's whole value".to_owned(),
                        ))),
                    )
                }
                // A function of the request: nothing OpenAPI can describe.
                TokenLocation::Custom(_) => continue,
            };
            schemes.push(NamedScheme {
                name,
                lists: Lists::Names,
                kind: SchemeKind::Ready(scheme),
            });
        }
        if let Some(dpop) = authenticator.dpop_verifier() {
            let algorithms: Vec<&str> = dpop.algorithms().iter().map(|a| a.as_str()).collect();
            let mut value = ApiKeyValue::with_description(
                "Authorization",
                "A DPoP-bound access token (RFC 9449): `Authorization: DPoP <token>`, with a \
                 proof of possession in the `DPoP` header",
            );
            value.extensions = extensions([
                ("x-auth-scheme", "DPoP".into()),
                ("x-dpop-proof-header", "DPoP".into()),
                ("x-dpop-signing-alg-values-supported", algorithms.into()),
            ]);
            schemes.push(NamedScheme {
                name: "dpop".to_owned(),
                lists: Lists::Names,
                kind: SchemeKind::Ready(SecurityScheme::ApiKey(ApiKey::Header(value))),
            });
        }
        if let Some(location) = authenticator.api_key_location() {
            let key = match location {
                ApiKeyLocation::Header(header) => ApiKey::Header(ApiKeyValue::with_description(
                    header.clone(),
                    "An API key, the header's whole value".to_owned(),
                )),
                ApiKeyLocation::Authorization(scheme) => {
                    let mut value = ApiKeyValue::with_description(
                        "Authorization".to_owned(),
                        format!("An API key: `Authorization: {scheme} <key>`"),
                    );
                    value.extensions = extensions([("x-auth-scheme", scheme.as_str().into())]);
                    ApiKey::Header(value)
                }
                ApiKeyLocation::Query(parameter) => ApiKey::Query(ApiKeyValue::with_description(
                    parameter.clone(),
                    "An API key in this query parameter".to_owned(),
                )),
            };
            schemes.push(NamedScheme {
                name: "api_key".to_owned(),
                lists: Lists::Names,
                kind: SchemeKind::Ready(SecurityScheme::ApiKey(key)),
            });
        }
        Self {
            schemes,
            every_route: true,
            dpop_required,
        }
    }

    /// As [`new`](Self::new), with what each discovered issuer's metadata says, fetched now
    /// with the validator's HTTP client: an `oauth2` scheme with the client-credentials flow
    /// where it names a token endpoint (checked by the URL policy), and no `openid` scheme for
    /// an issuer that publishes only RFC 8414 metadata (not OpenID Connect discovery). An
    /// issuer whose metadata can't be had keeps its `openid` scheme and gets no `oauth2` one,
    /// with a warning in the log.
    pub async fn discover(authenticator: &Authenticator) -> Self {
        let validator = authenticator.validator();
        let issuers: Vec<&str> = validator
            .issuers()
            .filter(|issuer| validator.discovery_url(issuer).is_some())
            .collect();
        let mut not_openid = Vec::new();
        let mut token_urls = Vec::new();
        for issuer in issuers {
            match validator.discovered(issuer).await {
                Ok(found) => {
                    if !found.openid {
                        not_openid.push(issuer);
                    }
                    match found.token_endpoint {
                        Ok(url) => token_urls.push(url),
                        Err(err) => tracing::warn!(
                            %issuer,
                            error = %err,
                            "the OpenAPI document has no oauth2 scheme for this issuer"
                        ),
                    }
                }
                Err(err) => tracing::warn!(
                    %issuer,
                    error = %err,
                    "the issuer's metadata can't be had: the OpenAPI document has no oauth2 scheme for it"
                ),
            }
        }
        let mut security = Self::build(authenticator, |issuer| !not_openid.contains(&issuer));
        for url in token_urls {
            security = security.client_credentials(url.as_str());
        }
        security
    }

    /// How many `oauth2` schemes there are (from [`discover`](Self::discover) or
    /// [`client_credentials`](Self::client_credentials)).
    pub fn client_credentials_count(&self) -> usize {
        self.schemes
            .iter()
            .filter(|s| matches!(s.kind, SchemeKind::ClientCredentials { .. }))
            .count()
    }

    /// Adds an `oauth2` scheme (`oauth2`, then `oauth2_2`, …) with the client-credentials flow
    /// at `token_url`. Its scopes are those the document's guards name.
    pub fn client_credentials(mut self, token_url: impl Into<String>) -> Self {
        let index = self.client_credentials_count();
        let at = self
            .schemes
            .iter()
            .position(|s| s.lists == Lists::Names)
            .unwrap_or(self.schemes.len());
        self.schemes.insert(
            at,
            NamedScheme {
                name: numbered("oauth2", index),
                lists: Lists::Scopes,
                kind: SchemeKind::ClientCredentials {
                    token_url: token_url.into(),
                    dpop_required: self.dpop_required,
                },
            },
        );
        self
    }

    /// Whether an operation without guards needs a credential: the document's top-level
    /// `security` lists every scheme. Default `true`, as when the middleware wraps the whole
    /// router; a public operation then says `security(())` in its `#[utoipa::path]`.
    pub fn every_route(mut self, needs_a_credential: bool) -> Self {
        self.every_route = needs_a_credential;
        self
    }

    /// The names of the schemes, in the order of the document's alternatives.
    pub fn scheme_names(&self) -> impl Iterator<Item = &str> {
        self.schemes.iter().map(|s| s.name.as_str())
    }

    /// Adds the schemes to `openapi`'s components, turns the guards' requirements into each
    /// operation's `security`, and (with [`every_route`](Self::every_route)) sets the
    /// top-level `security`. Applying it twice gives the same document.
    pub fn apply(&self, openapi: &mut OpenApi) {
        let lists: Vec<(&str, Lists)> = self
            .schemes
            .iter()
            .map(|s| (s.name.as_str(), s.lists))
            .collect();
        let scopes: BTreeSet<String> = operations::apply_guards(openapi, &lists);
        let components = openapi.components.get_or_insert_with(Default::default);
        for scheme in &self.schemes {
            let made = match &scheme.kind {
                SchemeKind::Ready(made) => made.clone(),
                SchemeKind::ClientCredentials {
                    token_url,
                    dpop_required,
                } => {
                    // A document applied before keeps the scopes its guards named.
                    let mut scopes = scopes.clone();
                    scopes.extend(
                        components
                            .security_schemes
                            .get(&scheme.name)
                            .and_then(|made| serde_json::to_value(made).ok())
                            .and_then(|made| {
                                let scopes = &made["flows"]["clientCredentials"]["scopes"];
                                scopes
                                    .as_object()
                                    .map(|s| s.keys().cloned().collect::<Vec<_>>())
                            })
                            .unwrap_or_default(),
                    );
                    let flow = ClientCredentials::new(
                        token_url.clone(),
                        scopes
                            .iter()
                            .map(|scope| (scope.as_str(), scope.as_str()))
                            .collect::<Scopes>(),
                    );
                    let mut oauth2 = OAuth2::with_description(
                        [Flow::ClientCredentials(flow)],
                        "OAuth 2.0 client credentials: a service's own access token",
                    );
                    oauth2.extensions = dpop_required
                        .then(|| extensions([("x-dpop-required", true.into())]))
                        .flatten();
                    SecurityScheme::OAuth2(oauth2)
                }
            };
            components
                .security_schemes
                .insert(scheme.name.clone(), made.into());
        }
        if self.every_route && !self.schemes.is_empty() {
            openapi.security = Some(
                self.schemes
                    .iter()
                    .map(|s| SecurityRequirement::new(s.name.as_str(), Vec::<String>::new()))
                    .collect(),
            );
        }
    }
}

impl Modify for OpenApiSecurity {
    fn modify(&self, openapi: &mut OpenApi) {
        self.apply(openapi);
    }
}
