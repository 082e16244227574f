//! What an error looks like over HTTP, decided once here so that every adapter answers the
//! same way.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, ErrorKind};

/// Replaces the body of error responses: given the error and the default answer, returns the
/// content type and the body. The status and `WWW-Authenticate` stay as they are.
pub type BodyRenderer = Arc<dyn Fn(&Error, &ErrorResponse) -> (String, String) + Send + Sync>;

/// How error responses are rendered, the same way by every adapter. The default is terse: no
/// `error_description`, no realm, a small JSON body.
///
/// ```
/// use jwtguard_core::{Error, ErrorKind, ResponseOptions};
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
/// let answer = Error::new(ErrorKind::Expired, "exp").to_response(&options);
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
    /// The body's content type: `application/json` unless a renderer says otherwise.
    pub content_type: String,
    /// The body: by default a small JSON object, `{"error":"invalid_token"}`.
    pub body: String,
}

impl ErrorResponse {
    /// The headers to send: `Content-Type`, `Cache-Control: no-store`, and
    /// `WWW-Authenticate` when there is a challenge.
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut headers = vec![
            ("content-type", self.content_type.as_str()),
            ("cache-control", "no-store"),
        ];
        if let Some(challenge) = &self.www_authenticate {
            headers.push(("www-authenticate", challenge.as_str()));
        }
        headers
    }
}

/// The `error` member of the JSON body: the RFC 6750 code where there is one, else the
/// RFC 6749 name of the situation.
fn body_code(kind: ErrorKind) -> &'static str {
    match kind.bearer_code() {
        Some(code) => code,
        None if kind == ErrorKind::MissingToken => "missing_token",
        None if kind.status() == 503 => "temporarily_unavailable",
        None => "server_error",
    }
}

impl Error {
    /// The HTTP answer for this error.
    ///
    /// ```
    /// use jwtguard_core::{Error, ErrorKind, ResponseOptions};
    ///
    /// let answer = Error::new(ErrorKind::Expired, "exp has passed").to_response(&ResponseOptions::default());
    /// assert_eq!(answer.status, 401);
    /// assert_eq!(answer.www_authenticate.as_deref(), Some(r#"Bearer error="invalid_token""#));
    /// assert_eq!(answer.body, r#"{"error":"invalid_token"}"#);
    /// ```
    pub fn to_response(&self, options: &ResponseOptions) -> ErrorResponse {
        let kind = self.kind();
        if self.is_config() {
            tracing::error!(error = %self, "jwtguard is wired wrongly");
        }
        let code = body_code(kind);
        let description = options.describe.then(|| kind.description());
        let challenge = match kind.status() {
            400 | 401 | 403 => {
                let mut params: Vec<String> = Vec::new();
                if let Some(realm) = &options.realm {
                    params.push(format!("realm=\"{}\"", quoted(realm)));
                }
                if let Some(code) = kind.bearer_code() {
                    params.push(format!("error=\"{code}\""));
                    if let Some(description) = description {
                        params.push(format!("error_description=\"{description}\""));
                    }
                }
                if let Some(scope) = self.required_scope() {
                    params.push(format!("scope=\"{}\"", quoted(scope)));
                }
                Some(if params.is_empty() {
                    "Bearer".to_owned()
                } else {
                    format!("Bearer {}", params.join(", "))
                })
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
            content_type: "application/json".to_owned(),
            body: serde_json::Value::Object(body).to_string(),
        };
        if let Some(render) = &options.body {
            let (content_type, body) = render(self, &response);
            response.content_type = content_type;
            response.body = body;
        }
        response
    }
}

/// RFC 6750 attribute values allow %x20-21 / %x23-5B / %x5D-7E: drop anything else.
fn quoted(value: &str) -> String {
    value
        .chars()
        .filter(|c| matches!(*c, ' '..='~') && *c != '"' && *c != '\\')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(err: Error, options: &ResponseOptions) -> ErrorResponse {
        err.to_response(options)
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
                r#"Bearer realm="api x", error="invalid_token", error_description="the token has expired""#
            )
        );
        assert!(!r.body.contains("internal detail"));
    }
}
