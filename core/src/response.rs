//! What an error looks like over HTTP, decided once here so that every adapter answers the
//! same way.

use crate::error::{Error, ErrorKind};

/// How error responses are rendered. The default is terse: no `error_description`, no realm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseOptions {
    /// Send `error_description` (a fixed, generic sentence per kind) in the challenge and body.
    /// Default `false`.
    pub describe: bool,
    /// A `realm` for the challenge. Default none.
    pub realm: Option<String>,
}

/// The parts of an HTTP error response: status, `WWW-Authenticate` and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The status code.
    pub status: u16,
    /// The `WWW-Authenticate` value, for 401 and 403 (and 400) answers.
    pub www_authenticate: Option<String>,
    /// The body, a small JSON object: `{"error":"invalid_token"}`.
    pub body: String,
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
        ErrorResponse {
            status: kind.status(),
            www_authenticate: challenge,
            body: serde_json::Value::Object(body).to_string(),
        }
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
        let options = ResponseOptions {
            describe: true,
            realm: Some("api \"x\"".into()),
        };
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
