//! Who a request is from: the [`Authenticator`] the adapters hold (where the token is, which
//! validator checks it, how a refusal is rendered), and the [`RequestAuth`] its middleware
//! leaves in each request for the extractors and guards, the same for every web framework.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::location::{RequestView, TokenLocation, find_token};
use super::rejection::{Rejection, ResponseOptions};
use super::requirement::Requirement;
use crate::error::{Error, ErrorKind};
use crate::introspection::Introspector;
use crate::validator::pipeline::Validator;
use crate::validator::token::VerifiedToken;

/// Decides who a request is from: finds its token in the configured [`TokenLocation`]s
/// (default: the `Authorization: Bearer` header only), validates it with a [`Validator`], and
/// renders refusals with [`ResponseOptions`] (default: terse).
///
/// Both adapters take one (or a [`Validator`], which becomes one with the defaults). Cheap to
/// clone (an `Arc` inside).
///
/// ```
/// use jwtguard_core::{Authenticator, ResponseOptions, TokenLocation, Validator};
///
/// # async fn run() -> Result<(), jwtguard_core::Error> {
/// let validator = Validator::builder()
///     .issuer("https://idp.example.com")
///     .audience("https://api.example.com")
///     .build()
///     .await?;
/// let authenticator = Authenticator::new(validator)
///     .token_locations([TokenLocation::Bearer, TokenLocation::Cookie("access_token".into())])?
///     .response_options(ResponseOptions::default().with_descriptions());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    validator: Validator,
    locations: Vec<TokenLocation>,
    response: ResponseOptions,
    introspection: Option<(Introspector, TokenRouting)>,
}

/// Which check a bearer token goes to, when an [`Introspector`] is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRouting {
    /// A token shaped like a compact JWS (three base64url segments) is validated as a JWT;
    /// anything else is introspected. The default with an introspector.
    Both,
    /// Every token is introspected (an authorization server that issues only opaque tokens,
    /// or whose JWTs must be checked for revocation).
    OpaqueOnly,
    /// Every token is validated as a JWT: the default without an introspector.
    JwtOnly,
}

/// Whether `token` has the shape of a compact JWS: three non-empty segments. Only its shape:
/// what it says is for the validator to check.
fn shaped_like_jws(token: &str) -> bool {
    let mut segments = token.split('.');
    matches!(
        (segments.next(), segments.next(), segments.next(), segments.next()),
        (Some(a), Some(b), Some(c), None) if !a.is_empty() && !b.is_empty() && !c.is_empty()
    )
}

impl Authenticator {
    /// An authenticator with the defaults: the token from `Authorization: Bearer`, terse
    /// responses.
    pub fn new(validator: Validator) -> Self {
        Self {
            inner: Arc::new(Inner {
                validator,
                locations: vec![TokenLocation::Bearer],
                response: ResponseOptions::default(),
                introspection: None,
            }),
        }
    }

    /// Where the token is looked for. Default: the `Authorization: Bearer` header only. With
    /// several locations, a request that carries a token in two of them is refused as
    /// `invalid_request` (RFC 6750 §2). An empty list is a [`ErrorKind::Config`] error.
    pub fn token_locations<I: IntoIterator<Item = TokenLocation>>(
        mut self,
        locations: I,
    ) -> Result<Self, Error> {
        let locations: Vec<TokenLocation> = locations.into_iter().collect();
        if locations.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "at least one token location is needed",
            ));
        }
        Arc::make_mut(&mut self.inner).locations = locations;
        Ok(self)
    }

    /// Also accepts opaque tokens, verified by `introspector` (RFC 7662), routed by `routing`
    /// ([`TokenRouting::Both`]: JWS-shaped tokens are validated as JWTs, the others
    /// introspected). Without it, every token is validated as a JWT.
    pub fn introspection(mut self, introspector: Introspector, routing: TokenRouting) -> Self {
        Arc::make_mut(&mut self.inner).introspection = Some((introspector, routing));
        self
    }

    /// How refusals are rendered. Default terse: no `error_description`, no realm.
    pub fn response_options(mut self, options: ResponseOptions) -> Self {
        Arc::make_mut(&mut self.inner).response = options;
        self
    }

    /// The validator that checks tokens.
    pub fn validator(&self) -> &Validator {
        &self.inner.validator
    }

    /// How refusals are rendered.
    pub fn options(&self) -> &ResponseOptions {
        &self.inner.response
    }

    /// Finds the request's token. No token is [`ErrorKind::MissingToken`]; a token in two
    /// places is [`ErrorKind::InvalidRequest`].
    pub fn find_token<'r>(&self, request: &'r dyn RequestView) -> Result<Cow<'r, str>, Error> {
        find_token(&self.inner.locations, request)
    }

    /// What an adapter's middleware does for each request: finds the token and validates it.
    /// A request without a token passes anonymously only under [`Anonymous::Allowed`]; a
    /// present but bad token is refused either way.
    pub async fn authenticate<R: RequestView>(
        &self,
        request: &R,
        anonymous: Anonymous,
    ) -> Result<RequestAuth, Rejection> {
        let token = match self.find_token(request) {
            Ok(token) => self.verify(&token).await.map(Some),
            Err(error) if error.is_missing_token() && anonymous == Anonymous::Allowed => Ok(None),
            Err(error) => Err(error),
        };
        match token {
            Ok(token) => Ok(RequestAuth::new(token, self.clone())),
            Err(error) => Err(self.reject(error)),
        }
    }

    /// Verifies a bearer token on the path its routing gives it: the validator, or the
    /// introspector.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, Error> {
        match &self.inner.introspection {
            Some((introspector, TokenRouting::OpaqueOnly)) => introspector.introspect(token).await,
            Some((introspector, TokenRouting::Both)) if !shaped_like_jws(token) => {
                introspector.introspect(token).await
            }
            _ => self.inner.validator.validate(token).await,
        }
    }

    /// `error`, rendered with this authenticator's options.
    pub fn reject(&self, error: Error) -> Rejection {
        Rejection::new(error, &self.inner.response)
    }
}

impl From<Validator> for Authenticator {
    fn from(validator: Validator) -> Self {
        Self::new(validator)
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("validator", &self.inner.validator)
            .field("locations", &self.inner.locations)
            .field(
                "introspection",
                &self
                    .inner
                    .introspection
                    .as_ref()
                    .map(|(introspector, routing)| (introspector.endpoint().as_str(), routing)),
            )
            .field("response", &self.inner.response)
            .finish()
    }
}

/// Whether a request may come without a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Anonymous {
    /// A request without a token is refused (401). The default.
    #[default]
    Refused,
    /// A request without a token goes through anonymously; a present but bad token is still
    /// refused.
    Allowed,
}

/// The outcome of authentication for one request: the verified token (none for an anonymous
/// request under [`Anonymous::Allowed`]) and the [`Authenticator`] that decided.
///
/// Every method that can fail returns a [`Rejection`], rendered with that authenticator's
/// [`ResponseOptions`](crate::ResponseOptions): what the adapters answer with.
#[derive(Clone, Debug)]
pub struct RequestAuth {
    token: Option<VerifiedToken>,
    authenticator: Authenticator,
}

impl RequestAuth {
    /// The outcome for a request.
    pub fn new(token: Option<VerifiedToken>, authenticator: Authenticator) -> Self {
        Self {
            token,
            authenticator,
        }
    }

    /// The outcome the middleware left in a request (`found`, from the request's extensions),
    /// or, when an extractor or guard is used where the middleware did not run, a 500
    /// ([`ErrorKind::Misconfigured`]): the application is wired wrongly.
    pub fn installed(found: Option<&RequestAuth>) -> Result<&RequestAuth, Rejection> {
        found.ok_or_else(|| {
            Rejection::plain(Error::new(
                ErrorKind::Misconfigured,
                "a jwtguard extractor or guard is used where the jwtguard middleware did not run",
            ))
        })
    }

    /// What a guard does: checks `requirement` against the outcome the middleware left
    /// ([`installed`](Self::installed), then [`require`](Self::require)).
    pub fn check(found: Option<&RequestAuth>, requirement: &Requirement) -> Result<(), Rejection> {
        Self::installed(found)?.require(requirement)
    }

    /// The verified token, if the request had one.
    pub fn token(&self) -> Option<&VerifiedToken> {
        self.token.as_ref()
    }

    /// The authenticator that decided.
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// The verified token, or [`ErrorKind::MissingToken`] for an anonymous request.
    pub fn required(&self) -> Result<&VerifiedToken, Rejection> {
        self.token
            .as_ref()
            .ok_or_else(|| self.reject(Error::new(ErrorKind::MissingToken, "no bearer token")))
    }

    /// The claims as `T`; [`ErrorKind::MissingToken`] for an anonymous request,
    /// [`ErrorKind::InvalidClaim`] when they don't fit `T`.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        self.required()?
            .deserialize()
            .map_err(|error| self.reject(error))
    }

    /// The claims as `T`, or `None` for an anonymous request.
    pub fn optional_claims<T: DeserializeOwned>(&self) -> Result<Option<T>, Rejection> {
        self.token
            .as_ref()
            .map(VerifiedToken::deserialize)
            .transpose()
            .map_err(|error| self.reject(error))
    }

    /// Checks a role or scope requirement ([`ErrorKind::InsufficientScope`] when it fails,
    /// [`ErrorKind::MissingToken`] for an anonymous request).
    pub fn require(&self, requirement: &Requirement) -> Result<(), Rejection> {
        requirement
            .check(self.required()?)
            .map_err(|error| self.reject(error))
    }

    /// `error`, rendered with the options of the authenticator that decided.
    pub fn reject(&self, error: Error) -> Rejection {
        self.authenticator.reject(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::Algorithm;
    use crate::keys::KeySet;
    use crate::request::location::HeaderLookup;

    async fn validator() -> Validator {
        Validator::builder()
            .issuer("https://idp.example")
            .audience("api")
            .key_set(KeySet::new())
            .hmac_secret(Algorithm::HS256, [7u8; 32])
            .build()
            .await
            .expect("a validator with a secret")
    }

    fn no_headers(_: &str) -> Vec<&'static [u8]> {
        Vec::new()
    }

    #[tokio::test]
    async fn anonymous_requests_and_the_options_of_refusals() {
        let authenticator = Authenticator::new(validator().await)
            .response_options(ResponseOptions::default().with_realm("orders"));
        let view = HeaderLookup::new(no_headers);
        let refused = authenticator
            .authenticate(&view, Anonymous::Refused)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), 401);
        assert_eq!(
            refused.render().www_authenticate.as_deref(),
            Some(r#"Bearer realm="orders""#)
        );
        let allowed = authenticator
            .authenticate(&view, Anonymous::Allowed)
            .await
            .unwrap();
        assert!(allowed.token().is_none());
        let missing = allowed.required().unwrap_err();
        assert_eq!(
            missing.render().www_authenticate.as_deref(),
            Some(r#"Bearer realm="orders""#)
        );
        assert_eq!(
            allowed.optional_claims::<serde_json::Value>().unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn no_token_location_is_a_configuration_error() {
        let error = Authenticator::new(validator().await)
            .token_locations(Vec::<TokenLocation>::new())
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
    }

    #[test]
    fn extractors_without_the_middleware_answer_500() {
        let rejection = RequestAuth::installed(None).unwrap_err();
        assert_eq!(rejection.status(), 500);
        let requirement = Requirement::role("admin");
        assert_eq!(
            RequestAuth::check(None, &requirement).unwrap_err().status(),
            500
        );
    }
}
