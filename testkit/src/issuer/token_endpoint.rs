//! The token endpoint of the local issuer (RFC 6749 §3.2): client authentication by
//! `client_secret_basic` or `client_secret_post`, the `client_credentials` and
//! `refresh_token` grants, and the switches that make it fail.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value, json};

use super::{DEFAULT_AUDIENCE, Shared};

/// The challenge sent with `invalid_client` when the client tried HTTP Basic.
const BASIC_CHALLENGE: &str = "Basic realm=\"jwtguard-testkit\"";

/// Standard base64, with or without padding (clients differ).
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What a refresh token grants, and to whom.
#[derive(Clone)]
pub(super) struct RefreshGrant {
    client_id: String,
    scope: Vec<String>,
    audience: Vec<String>,
}

impl RefreshGrant {
    /// A grant of `scope` (space-separated) for `audience` to `client_id`.
    pub(super) fn new(client_id: &str, scope: &str, audience: Vec<String>) -> Self {
        Self {
            client_id: client_id.to_owned(),
            scope: scope.split_ascii_whitespace().map(str::to_owned).collect(),
            audience,
        }
    }
}

/// 32 random bytes, base64url: refresh tokens and `jti`s. `None` if the system's random
/// number generator fails.
pub(super) fn random_string() -> Option<String> {
    let mut bytes = [0_u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(crate::b64(&bytes))
}

/// The settings an answer is made with, read once per request.
struct Settings {
    /// Access token lifetime, in seconds.
    ttl: u64,
    omit_expires_in: bool,
}

/// `POST /token`.
pub(super) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let pairs = form.map(|Form(pairs)| pairs);
    let (failure, settings) = {
        let mut state = shared.lock();
        if let Some(grant) = pairs.as_ref().ok().and_then(|pairs| grant_type_of(pairs)) {
            *state.grant_requests.entry(grant.to_owned()).or_default() += 1;
        }
        let settings = Settings {
            ttl: state.token_ttl.as_secs(),
            omit_expires_in: state.omit_expires_in,
        };
        (state.token_failure, settings)
    };
    let answer = match (failure, pairs) {
        (Some(status), _) => Err(OAuthError::forced(status)),
        (None, Err(_)) => Err(OAuthError::invalid_request(
            "the body is not an application/x-www-form-urlencoded form",
        )),
        (None, Ok(pairs)) => answer(&shared, &headers, pairs, &settings),
    };
    match answer {
        Ok(body) => no_store((StatusCode::OK, Json(Value::Object(body))).into_response()),
        Err(error) => error.into_response(),
    }
}

/// The first non-empty `grant_type` of a form.
fn grant_type_of(pairs: &[(String, String)]) -> Option<&str> {
    pairs
        .iter()
        .find(|(name, value)| name == "grant_type" && !value.is_empty())
        .map(|(_, value)| value.as_str())
}

fn answer(
    shared: &Shared,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
    settings: &Settings,
) -> Result<Map<String, Value>, OAuthError> {
    let params = Params::parse(pairs)?;
    let client_id = authenticate(shared, headers, &params)?;
    match params.get("grant_type") {
        None => Err(OAuthError::invalid_request("missing `grant_type`")),
        Some("client_credentials") => client_credentials(shared, &client_id, &params, settings),
        Some("refresh_token") => refresh(shared, &client_id, &params, settings),
        Some(_) => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "supported: client_credentials, refresh_token",
        )),
    }
}

/// A token request's parameters.
struct Params {
    single: HashMap<String, String>,
    /// RFC 8707 `resource`s, which may be repeated.
    resource: Vec<String>,
    /// `audience`s, which may be repeated too.
    audience: Vec<String>,
}

impl Params {
    /// Reads a form: a parameter without a value counts as absent (RFC 6749 §3.1), and one
    /// other than `resource` and `audience` may appear only once (§3.2).
    fn parse(pairs: Vec<(String, String)>) -> Result<Self, OAuthError> {
        let mut params = Self {
            single: HashMap::new(),
            resource: Vec::new(),
            audience: Vec::new(),
        };
        for (name, value) in pairs {
            if value.is_empty() {
                continue;
            }
            match name.as_str() {
                "resource" => params.resource.push(value),
                "audience" => params.audience.push(value),
                _ => match params.single.entry(name) {
                    Entry::Occupied(_) => {
                        return Err(OAuthError::invalid_request("a parameter is repeated"));
                    }
                    Entry::Vacant(entry) => {
                        entry.insert(value);
                    }
                },
            }
        }
        Ok(params)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.single.get(name).map(String::as_str)
    }

    /// The audience asked for with `resource` and `audience` (in that order, without
    /// repeats), or `None` if neither was given.
    fn audience(&self) -> Result<Option<Vec<String>>, OAuthError> {
        if !self.resource.iter().all(|r| is_absolute_uri(r)) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_target",
                "`resource` must be an absolute URI without a fragment",
            ));
        }
        let mut audience: Vec<String> = Vec::new();
        for value in self.resource.iter().chain(&self.audience) {
            if !audience.contains(value) {
                audience.push(value.clone());
            }
        }
        Ok((!audience.is_empty()).then_some(audience))
    }

    /// The `scope` asked for, split into its values, or `None` if none was given.
    fn scope(&self) -> Result<Option<Vec<String>>, OAuthError> {
        let Some(scope) = self.get("scope") else {
            return Ok(None);
        };
        let values: Vec<String> = scope
            .split(' ')
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect();
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let valid = values.iter().all(|value| {
            value
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
        });
        if valid {
            Ok(Some(values))
        } else {
            Err(OAuthError::invalid_scope("malformed `scope`"))
        }
    }
}

/// `scheme ":" ...` without a `#fragment`.
fn is_absolute_uri(value: &str) -> bool {
    let Some((scheme, _)) = value.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !value.contains('#')
}

/// Authenticates the client by exactly one of `client_secret_basic` and
/// `client_secret_post`; returns its `client_id`.
fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<String, OAuthError> {
    let (client_id, secret, basic) = match basic_credentials(headers) {
        Some(_) if params.get("client_secret").is_some() => {
            return Err(OAuthError::invalid_client(
                true,
                "more than one client authentication method",
            ));
        }
        Some(None) => {
            return Err(OAuthError::invalid_client(
                true,
                "malformed Basic credentials",
            ));
        }
        Some(Some((id, secret))) => {
            if params.get("client_id").is_some_and(|form_id| form_id != id) {
                return Err(OAuthError::invalid_client(
                    true,
                    "`client_id` differs from the Basic credentials",
                ));
            }
            (id, secret, true)
        }
        None => match (params.get("client_id"), params.get("client_secret")) {
            (Some(id), Some(secret)) => (id.to_owned(), secret.to_owned(), false),
            _ => {
                return Err(OAuthError::invalid_client(
                    false,
                    "client authentication required",
                ));
            }
        },
    };
    let known = shared
        .lock()
        .clients
        .get(&client_id)
        .is_some_and(|registered| *registered == secret);
    if known {
        Ok(client_id)
    } else {
        Err(OAuthError::invalid_client(
            basic,
            "unknown client or wrong secret",
        ))
    }
}

/// The `Authorization: Basic` credentials: `None` without any, `Some(None)` when they are not
/// `base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1). Other schemes are
/// ignored.
fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes().trim_ascii();
    let (scheme, credentials) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], value[space..].trim_ascii()),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decode = || {
        let decoded = String::from_utf8(BASIC_BASE64.decode(credentials).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        Some((form_decode(id), form_decode(secret)))
    };
    Some(decode())
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space, `%XX` a byte;
/// invalid UTF-8 is replaced).
fn form_decode(component: &str) -> String {
    // A lone component: a raw `&` or `=` is data, not a separator.
    let escaped = component.replace('&', "%26").replace('=', "%3D");
    form_urlencoded::parse(escaped.as_bytes())
        .next()
        .map(|(decoded, _)| decoded.into_owned())
        .unwrap_or_default()
}

fn client_credentials(
    shared: &Shared,
    client_id: &str,
    params: &Params,
    settings: &Settings,
) -> Result<Map<String, Value>, OAuthError> {
    let scope = params.scope()?.unwrap_or_default();
    let audience = params
        .audience()?
        .unwrap_or_else(|| vec![DEFAULT_AUDIENCE.to_owned()]);
    let access_token = mint(shared, client_id, &scope, &audience, settings.ttl)?;
    Ok(success(access_token, &scope, settings, None))
}

/// Redeems a refresh token of this client, narrowing its scope and audience if asked to, and
/// rotates it unless rotation is off.
fn refresh(
    shared: &Shared,
    client_id: &str,
    params: &Params,
    settings: &Settings,
) -> Result<Map<String, Value>, OAuthError> {
    let presented = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("missing `refresh_token`"))?;
    let scope = params.scope()?;
    let audience = params.audience()?;
    let fresh = random_string().ok_or_else(OAuthError::server_error)?;
    let (grant, rotated) = {
        let mut state = shared.lock();
        let grant = match state.refresh_tokens.get(presented) {
            Some(grant) if grant.client_id == client_id => grant.clone(),
            _ => {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown or used refresh token, or one of another client",
                ));
            }
        };
        if scope
            .as_ref()
            .is_some_and(|scope| scope.iter().any(|value| !grant.scope.contains(value)))
        {
            return Err(OAuthError::invalid_scope(
                "`scope` goes beyond the refresh token's",
            ));
        }
        if audience
            .as_ref()
            .is_some_and(|audience| audience.iter().any(|value| !grant.audience.contains(value)))
        {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_target",
                "the audience goes beyond the refresh token's",
            ));
        }
        if state.refresh_rotation {
            state.refresh_tokens.remove(presented);
            state.refresh_tokens.insert(fresh.clone(), grant.clone());
            (grant, Some(fresh))
        } else {
            (grant, None)
        }
    };
    let scope = scope.unwrap_or(grant.scope);
    let audience = audience.unwrap_or(grant.audience);
    let access_token = mint(shared, client_id, &scope, &audience, settings.ttl)?;
    Ok(success(access_token, &scope, settings, rotated))
}

/// An access token for `client_id`, signed by the current key like [`Issuer::token`]'s.
///
/// [`Issuer::token`]: super::Issuer::token
fn mint(
    shared: &Shared,
    client_id: &str,
    scope: &[String],
    audience: &[String],
    ttl: u64,
) -> Result<String, OAuthError> {
    let jti = random_string().ok_or_else(OAuthError::server_error)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aud: Value = match audience {
        [one] => one.as_str().into(),
        many => many.into(),
    };
    let mut token = shared
        .issued_token()
        .claim("sub", client_id)
        .claim("client_id", client_id)
        .claim("aud", aud)
        .claim("iat", now)
        .claim("exp", now.saturating_add(ttl))
        .claim("jti", jti);
    if !scope.is_empty() {
        token = token.claim("scope", scope.join(" "));
    }
    Ok(token.sign())
}

/// A successful token response (RFC 6749 §5.1).
fn success(
    access_token: String,
    scope: &[String],
    settings: &Settings,
    refresh_token: Option<String>,
) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("access_token".to_owned(), access_token.into());
    body.insert("token_type".to_owned(), "Bearer".into());
    if !settings.omit_expires_in {
        body.insert("expires_in".to_owned(), settings.ttl.into());
    }
    if let Some(refresh_token) = refresh_token {
        body.insert("refresh_token".to_owned(), refresh_token.into());
    }
    if !scope.is_empty() {
        body.insert("scope".to_owned(), scope.join(" ").into());
    }
    body
}

/// Token responses are not to be cached (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An error response (RFC 6749 §5.2).
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
    /// Whether to challenge with `WWW-Authenticate: Basic` (the client tried Basic).
    basic_challenge: bool,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: &'static str) -> Self {
        Self {
            status,
            error,
            description,
            basic_challenge: false,
        }
    }

    fn invalid_request(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_scope(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    fn invalid_client(basic: bool, description: &'static str) -> Self {
        Self {
            basic_challenge: basic,
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
        }
    }

    fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "no randomness available",
        )
    }

    /// The answer of [`Issuer::set_token_failure`](super::Issuer::set_token_failure).
    fn forced(status: u16) -> Self {
        let status = StatusCode::from_u16(status)
            .ok()
            .filter(|s| (200..=599).contains(&s.as_u16()))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let error = match status.as_u16() {
            400 => "invalid_grant",
            401 => "invalid_client",
            500 => "server_error",
            _ => "temporarily_unavailable",
        };
        Self::new(status, error, "the token endpoint is set to fail")
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = no_store((self.status, Json(body)).into_response());
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(BASIC_CHALLENGE),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests;
