//! What an error looks like over HTTP (RFC 6750), decided once here so that every adapter
//! answers the same way: the [`Rejection`] an adapter answers with, how it is rendered
//! ([`ResponseOptions`]) and what comes out ([`ErrorResponse`]).

use std::fmt;
use std::sync::Arc;

use super::credential::ApiKeyLocation;
use crate::error::Error;

/// Replaces the body of error responses: given the error and the default answer, returns the
/// content type and the body. The status and `WWW-Authenticate` stay as they are.
pub type BodyRenderer = Arc<dyn Fn(&Error, &ErrorResponse) -> (String, String) + Send + Sync>;

/// How error responses are rendered, the same way by every adapter. The default is terse: no
/// `error_description`, no realm, a small JSON body.
///
/// ```
/// use jwtguard_core::{Error, ErrorKind, ErrorResponse, ResponseOptions};
///
/// // RFC 9457 problem details instead of the default body.
/// let options = ResponseOptions::default().with_body(|error, default| {
///     let problem = serde_json::json!({
///         "type": "about:blank",
///         "status": default.status,
///         "title": error.kind().description(),
///     });
///     ("application/problem+json".to_owned(), problem.to_string())
/// });
/// let answer = ErrorResponse::for_error(&Error::new(ErrorKind::Expired, "exp"), &options);
/// assert_eq!(answer.status, 401);
/// assert_eq!(answer.content_type, "application/problem+json");
/// assert_eq!(answer.www_authenticate.as_deref(), Some(r#"Bearer error="invalid_token""#));
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct ResponseOptions {
    /// Send `error_description` (a fixed, generic sentence per kind) in the challenge and body.
    /// Default `false`.
    pub describe: bool,
    /// A `realm` for the challenge. Default none.
    pub realm: Option<String>,
    /// The URL of the resource's metadata (RFC 9728), sent as `resource_metadata` in every
    /// `Bearer` and `DPoP` challenge, so that a client can find the authorization server on
    /// its own. Default none.
    pub resource_metadata: Option<String>,
    /// Renders the body instead of the default JSON. Default none.
    pub body: Option<BodyRenderer>,
}

impl ResponseOptions {
    /// Sends `error_description`.
    pub fn with_descriptions(mut self) -> Self {
        self.describe = true;
        self
    }

    /// Sends a `realm` in the challenge.
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Names the resource's metadata (RFC 9728) in every `Bearer` and `DPoP` challenge.
    ///
    /// ```
    /// use jwtguard_core::{Error, ErrorKind, ErrorResponse, ResponseOptions};
    ///
    /// let options = ResponseOptions::default()
    ///     .with_resource_metadata("https://api.example.com/.well-known/oauth-protected-resource");
    /// let answer = ErrorResponse::for_error(&Error::new(ErrorKind::MissingToken, ""), &options);
    /// assert_eq!(
    ///     answer.www_authenticate.as_deref(),
    ///     Some(r#"Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#)
    /// );
    /// ```
    pub fn with_resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Renders bodies with `render` (see [`BodyRenderer`]).
    pub fn with_body<F>(mut self, render: F) -> Self
    where
        F: Fn(&Error, &ErrorResponse) -> (String, String) + Send + Sync + 'static,
    {
        self.body = Some(Arc::new(render));
        self
    }
}

impl fmt::Debug for ResponseOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseOptions")
            .field("describe", &self.describe)
            .field("realm", &self.realm)
            .field("resource_metadata", &self.resource_metadata)
            .field("body", &self.body.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// The parts of an HTTP error response: status, `WWW-Authenticate`, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The status code.
    pub status: u16,
    /// The `WWW-Authenticate` value, for 401 and 403 (and 400) answers.
    pub www_authenticate: Option<String>,
    /// The `DPoP-Nonce` value, for a `use_dpop_nonce` answer (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
    /// The body's content type: `application/json` unless a renderer says otherwise.
    pub content_type: String,
    /// The body: by default a small JSON object, `{"error":"invalid_token"}`.
    pub body: String,
}

impl ErrorResponse {
    /// The headers to send: `Content-Type`, `Cache-Control: no-store`, `WWW-Authenticate` when
    /// there is a challenge, and `DPoP-Nonce` when there is a nonce.
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut headers = vec![
            ("content-type", self.content_type.as_str()),
            ("cache-control", "no-store"),
        ];
        if let Some(challenge) = &self.www_authenticate {
            headers.push(("www-authenticate", challenge.as_str()));
        }
        if let Some(nonce) = &self.dpop_nonce {
            headers.push(("dpop-nonce", nonce.as_str()));
        }
        headers
    }
}

impl ErrorResponse {
    /// The HTTP answer for `error`, rendered with `options`.
    ///
    /// ```
    /// use jwtguard_core::{Error, ErrorKind, ErrorResponse, ResponseOptions};
    ///
    /// let error = Error::new(ErrorKind::Expired, "exp has passed");
    /// let answer = ErrorResponse::for_error(&error, &ResponseOptions::default());
    /// assert_eq!(answer.status, 401);
    /// assert_eq!(answer.www_authenticate.as_deref(), Some(r#"Bearer error="invalid_token""#));
    /// assert_eq!(answer.body, r#"{"error":"invalid_token"}"#);
    /// ```
    pub fn for_error(error: &Error, options: &ResponseOptions) -> Self {
        Self::render(error, options, &[Scheme::Bearer], None)
    }

    /// The HTTP answer for `error` from a server that accepts the `accepted` schemes: a
    /// challenge for `about` (the credential the error is about), or for every accepted
    /// scheme when the error is about none of them (no credential, two credentials).
    pub(crate) fn render(
        error: &Error,
        options: &ResponseOptions,
        accepted: &[Scheme],
        about: Option<&Scheme>,
    ) -> Self {
        let kind = error.kind();
        if error.is_config() {
            tracing::error!(%error, "jwtguard is wired wrongly");
        }
        let code = kind.body_code();
        let description = options.describe.then(|| kind.description());
        let challenge = match kind.status() {
            400 | 401 | 403 => {
                let mut params: Vec<String> = Vec::new();
                if let Some(code) = kind.bearer_code() {
                    params.push(format!("error=\"{code}\""));
                    if let Some(description) = description {
                        params.push(format!("error_description=\"{description}\""));
                    }
                }
                if let Some(scope) = error.required_scope() {
                    params.push(format!("scope={}", quoted(scope)));
                }
                if let Some(acr_values) = error.required_acr_values() {
                    params.push(format!("acr_values={}", quoted(acr_values)));
                }
                if let Some(max_age) = error.required_max_age() {
                    params.push(format!("max_age=\"{max_age}\""));
                }
                let realm = options.realm.as_deref();
                let metadata = options.resource_metadata.as_deref();
                let challenges: Vec<String> = match about {
                    Some(scheme) if !error.is_missing_token() => {
                        // A DPoP refusal names Bearer too, when it is accepted (RFC 9449 §7.1).
                        let bearer = (matches!(scheme, Scheme::Dpop(_))
                            && accepted.contains(&Scheme::Bearer))
                        .then(|| Scheme::Bearer.challenge(realm, metadata, &[]));
                        bearer
                            .into_iter()
                            .chain([scheme.challenge(realm, metadata, &params)])
                            .collect()
                    }
                    _ => accepted
                        .iter()
                        .map(|scheme| scheme.challenge(realm, metadata, &params))
                        .collect(),
                };
                Some(challenges.join(", "))
            }
            _ => None,
        };
        let mut body = serde_json::Map::new();
        body.insert("error".into(), code.into());
        if let Some(description) = description {
            body.insert("error_description".into(), description.into());
        }
        let mut response = ErrorResponse {
            status: kind.status(),
            www_authenticate: challenge,
            dpop_nonce: error.dpop_nonce().map(str::to_owned),
            content_type: "application/json".to_owned(),
            body: serde_json::Value::Object(body).to_string(),
        };
        if let Some(render) = &options.body {
            let (content_type, body) = render(error, &response);
            response.content_type = content_type;
            response.body = body;
        }
        response
    }
}

/// An authentication scheme a server accepts, as its challenges name it (RFC 9110 §11.6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Bearer` (RFC 6750).
    Bearer,
    /// An API key at this location.
    ApiKey(ApiKeyLocation),
    /// `DPoP` (RFC 9449), with the proof algorithms accepted, space-separated.
    Dpop(Arc<str>),
}

impl Scheme {
    /// The challenge: the scheme, then `realm`, the scheme's own parameters, `params`, and
    /// `resource_metadata` for the OAuth schemes (RFC 9728 §5.1).
    fn challenge(&self, realm: Option<&str>, metadata: Option<&str>, params: &[String]) -> String {
        let (name, own, oauth) = match self {
            Self::Bearer => ("Bearer", Vec::new(), true),
            Self::ApiKey(location) => {
                let (name, own) = location.challenge();
                (name, own, false)
            }
            Self::Dpop(algs) => ("DPoP", vec![("algs", &**algs)], true),
        };
        let all: Vec<String> = realm
            .map(|realm| format!("realm={}", quoted(realm)))
            .into_iter()
            .chain(
                own.into_iter()
                    .map(|(key, value)| format!("{key}={}", quoted(value))),
            )
            .chain(params.iter().cloned())
            .chain(
                metadata
                    .filter(|_| oauth)
                    .map(|url| format!("resource_metadata={}", quoted(url))),
            )
            .collect();
        if all.is_empty() {
            name.to_owned()
        } else {
            format!("{name} {}", all.join(", "))
        }
    }
}

/// `grpc-message` is percent-encoded: every byte outside %x20-7E, and `%` itself.
fn grpc_percent_encoded(message: &str) -> String {
    use std::fmt::Write;
    let mut encoded = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// `value` as an RFC 9110 quoted-string (§5.6.4): in quotes, with `"` and `\` escaped by a
/// backslash. Characters a header can't carry (controls, and anything outside ASCII, which
/// RFC 6750 attributes don't allow) are dropped.
fn quoted(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars().filter(|c| matches!(*c, ' '..='~')) {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// An error together with how it is rendered: what the adapters' rejections carry, so that
/// both answer from one place.
///
/// ```
/// use jwtguard_core::{Error, ErrorKind, Rejection};
///
/// let rejection = Rejection::plain(Error::new(ErrorKind::KeysUnavailable, "idp down"));
/// assert_eq!(rejection.status(), 503);
/// assert_eq!(rejection.render().www_authenticate, None);
/// ```
#[derive(Debug)]
pub struct Rejection {
    error: Error,
    options: Arc<ResponseOptions>,
    accepted: Arc<[Scheme]>,
    about: Option<Scheme>,
}

impl Rejection {
    /// An error rendered with `options`.
    pub fn new(error: Error, options: &ResponseOptions) -> Self {
        Self {
            error,
            options: Arc::new(options.clone()),
            accepted: Arc::from([Scheme::Bearer]),
            about: Some(Scheme::Bearer),
        }
    }

    /// An error from a server that accepts the `accepted` schemes, about the credential
    /// `about` (none: about no credential, or two).
    pub(crate) fn with_schemes(
        error: Error,
        options: Arc<ResponseOptions>,
        accepted: Arc<[Scheme]>,
        about: Option<Scheme>,
    ) -> Self {
        Self {
            error,
            options,
            accepted,
            about,
        }
    }

    /// An error rendered with the default options (when no authenticator is at hand: the
    /// middleware did not run).
    pub fn plain(error: Error) -> Self {
        Self::new(error, &ResponseOptions::default())
    }

    /// The error.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// Turns the rejection back into its error.
    pub fn into_error(self) -> Error {
        self.error
    }

    /// The HTTP status it answers with (see [`ErrorKind::status`](crate::ErrorKind::status)).
    pub fn status(&self) -> u16 {
        self.error.status()
    }

    /// The answer as the headers of a gRPC trailers-only response (sent with HTTP 200 and no
    /// body): `content-type: application/grpc`, `grpc-status` (see
    /// [`ErrorKind::grpc_code`](crate::ErrorKind::grpc_code)), `grpc-message`
    /// ([`grpc_message`](Self::grpc_message), percent-encoded as gRPC requires),
    /// `cache-control: no-store`, and `www-authenticate` and `dpop-nonce` as over HTTP.
    ///
    /// ```
    /// use jwtguard_core::{Error, ErrorKind, Rejection};
    ///
    /// let rejection = Rejection::plain(Error::new(ErrorKind::Expired, "exp"));
    /// let headers = rejection.render_grpc();
    /// assert!(headers.contains(&("grpc-status", "16".to_owned())));
    /// assert!(headers.contains(&("grpc-message", "invalid_token".to_owned())));
    /// assert!(headers.contains(&("www-authenticate", r#"Bearer error="invalid_token""#.to_owned())));
    /// ```
    pub fn render_grpc(&self) -> Vec<(&'static str, String)> {
        let answer = self.render();
        let mut headers = vec![
            ("content-type", "application/grpc".to_owned()),
            ("grpc-status", self.error.kind().grpc_code().to_string()),
            ("grpc-message", grpc_percent_encoded(&self.grpc_message())),
            ("cache-control", "no-store".to_owned()),
        ];
        headers.extend(answer.www_authenticate.map(|v| ("www-authenticate", v)));
        headers.extend(answer.dpop_nonce.map(|v| ("dpop-nonce", v)));
        headers
    }

    /// The gRPC status message, before encoding: the body's error code (`invalid_token`), and
    /// its description when descriptions are on. Never the error's detail.
    pub fn grpc_message(&self) -> String {
        let kind = self.error.kind();
        let mut message = kind.body_code().to_owned();
        if self.options.describe {
            message.push_str(": ");
            message.push_str(kind.description());
        }
        message
    }

    /// The HTTP answer.
    pub fn render(&self) -> ErrorResponse {
        ErrorResponse::render(
            &self.error,
            &self.options,
            &self.accepted,
            self.about.as_ref(),
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn render(err: Error, options: &ResponseOptions) -> ErrorResponse {
        ErrorResponse::for_error(&err, options)
    }

    #[test]
    fn missing_token_has_a_bare_challenge() {
        let r = render(
            Error::new(ErrorKind::MissingToken, ""),
            &ResponseOptions::default(),
        );
        assert_eq!(r.status, 401);
        assert_eq!(r.www_authenticate.as_deref(), Some("Bearer"));
        assert_eq!(r.body, r#"{"error":"missing_token"}"#);
    }

    #[test]
    fn insufficient_scope_names_the_scope() {
        let r = render(
            Error::insufficient_scope("scope write", Some("write".into())),
            &ResponseOptions::default(),
        );
        assert_eq!(r.status, 403);
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some(r#"Bearer error="insufficient_scope", scope="write""#)
        );
    }

    #[test]
    fn step_up_names_the_acr_values_and_the_max_age() {
        let r = render(
            Error::insufficient_user_authentication("acr", Some("mfa phr".into()), Some(300)),
            &ResponseOptions::default(),
        );
        assert_eq!(r.status, 401);
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some(
                r#"Bearer error="insufficient_user_authentication", acr_values="mfa phr", max_age="300""#
            )
        );
        assert_eq!(r.body, r#"{"error":"insufficient_user_authentication"}"#);
    }

    #[test]
    fn every_oauth_challenge_names_the_resource_metadata() {
        let url = "https://api.example.test/.well-known/oauth-protected-resource";
        let options = ResponseOptions::default().with_resource_metadata(url);
        let metadata = format!(r#"resource_metadata="{url}""#);
        let missing = render(Error::new(ErrorKind::MissingToken, ""), &options);
        assert_eq!(missing.www_authenticate, Some(format!("Bearer {metadata}")));
        let expired = render(Error::new(ErrorKind::Expired, "exp"), &options);
        assert_eq!(
            expired.www_authenticate,
            Some(format!(r#"Bearer error="invalid_token", {metadata}"#))
        );
        let scope = render(
            Error::insufficient_scope("s", Some("write".into())),
            &options,
        );
        assert_eq!(
            scope.www_authenticate,
            Some(format!(
                r#"Bearer error="insufficient_scope", scope="write", {metadata}"#
            ))
        );
        let api_key = ApiKeyLocation::default();
        let schemes: Arc<[Scheme]> = Arc::from([
            Scheme::Bearer,
            Scheme::Dpop("ES256".into()),
            Scheme::ApiKey(api_key),
        ]);
        let all = ErrorResponse::render(
            &Error::new(ErrorKind::MissingToken, ""),
            &options,
            &schemes,
            None,
        );
        // The API key's challenge is no OAuth scheme's, and names no metadata.
        assert_eq!(
            all.www_authenticate,
            Some(format!(
                r#"Bearer {metadata}, DPoP algs="ES256", {metadata}, ApiKey in="header", name="X-API-Key""#
            ))
        );
        // A quote or backslash is escaped, never ends the value (RFC 9110 §5.6.4).
        let odd = ResponseOptions::default().with_resource_metadata(r#"https://x/"\"#);
        let odd = render(Error::new(ErrorKind::MissingToken, ""), &odd);
        assert_eq!(
            odd.www_authenticate.as_deref(),
            Some(r#"Bearer resource_metadata="https://x/\"\\""#)
        );
    }

    #[test]
    fn unavailable_has_no_challenge() {
        let r = render(
            Error::new(ErrorKind::KeysUnavailable, "idp down"),
            &ResponseOptions::default(),
        );
        assert_eq!(r.status, 503);
        assert_eq!(r.www_authenticate, None);
        assert_eq!(r.body, r#"{"error":"temporarily_unavailable"}"#);
    }

    #[test]
    fn descriptions_and_realm_are_opt_in_and_never_the_detail() {
        let options = ResponseOptions::default()
            .with_descriptions()
            .with_realm("api \"x\"");
        let r = render(Error::new(ErrorKind::Expired, "internal detail"), &options);
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some(
                r#"Bearer realm="api \"x\"", error="invalid_token", error_description="the token has expired""#
            )
        );
        assert!(!r.body.contains("internal detail"));
    }
}
