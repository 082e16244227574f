//! Who a request is from: the [`Authenticator`] the adapters hold (where the token is, which
//! validator checks it, how a refusal is rendered), and the [`RequestAuth`] its middleware
//! leaves in each request for the extractors and guards, the same for every web framework.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::credential::{ApiKeyLocation, CredentialOrder, api_key_token};
use super::dpop;
use super::location::{RequestView, TokenLocation, find_token};
use super::rejection::{Rejection, ResponseOptions, Scheme};
use super::requirement::Requirement;
use crate::api_key::ApiKeys;
use crate::dpop::{DpopMode, DpopVerifier};
use crate::error::{Error, ErrorKind};
use crate::introspection::Introspector;
use crate::validator::pipeline::Validator;
use crate::validator::token::{CredentialKind, VerifiedToken};

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
    response: Arc<ResponseOptions>,
    introspection: Option<(Introspector, TokenRouting)>,
    api_keys: Option<(ApiKeys, ApiKeyLocation)>,
    order: CredentialOrder,
    dpop: Option<DpopVerifier>,
    /// The `DPoP algs="…"` scheme of `dpop`, made once.
    dpop_scheme: Option<Scheme>,
    /// The schemes refusals name: `Bearer`, then the API key's when there is one.
    accepted: Arc<[Scheme]>,
}

/// The credential a request carries, found but not yet checked.
enum Presented<'r> {
    Token(Cow<'r, str>),
    /// A token with the DPoP scheme.
    Dpop(Cow<'r, str>),
    ApiKey(Cow<'r, str>),
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
    /// As [`Both`](Self::Both), and a JWT whose `iss` is the introspector's issuer is, once it
    /// has passed every local check, introspected too: it must also be active, so that a
    /// revoked JWT is refused once the introspection cache lets go of it (at most its TTL).
    /// A JWT that fails locally is never sent to the server. The verified token is the
    /// JWT's. The authorization server must introspect JWTs (some answer 400
    /// `unsupported_token_type`, which refuses the token).
    IntrospectIssuerJwts,
}

/// A header that holds the token can't also hold the API key: a [`ErrorKind::Config`] error.
fn check_apart(tokens: &[TokenLocation], key: Option<&ApiKeyLocation>) -> Result<(), Error> {
    let Some(ApiKeyLocation::Header(key_header)) = key else {
        return Ok(());
    };
    let shared = tokens.iter().any(|location| {
        matches!(location, TokenLocation::Header(name) if name.eq_ignore_ascii_case(key_header))
    });
    if shared {
        return Err(Error::new(
            ErrorKind::Config,
            format!("the header {key_header:?} can't hold both the token and the API key"),
        ));
    }
    Ok(())
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
                response: Arc::default(),
                introspection: None,
                api_keys: None,
                order: CredentialOrder::OneOnly,
                dpop: None,
                dpop_scheme: None,
                accepted: Arc::from([Scheme::Bearer]),
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
        check_apart(
            &locations,
            self.inner.api_keys.as_ref().map(|(_, location)| location),
        )?;
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

    /// Also accepts API keys, checked by `keys`, read from `location` (by default the
    /// `X-API-Key` header; see [`ApiKeyLocation`]). A request that carries both a bearer token
    /// and an API key is refused as `invalid_request` (400), unless
    /// [`credential_order`](Self::credential_order) says which one counts.
    ///
    /// An API key becomes a [`VerifiedToken`] whose claims are `sub`, `roles` and `scope`
    /// (space-separated), so that guards and typed claims work as for a JWT. Refusals name
    /// the location's scheme in their challenge (see [`ApiKeyLocation`]); a request without
    /// any credential gets a challenge for each accepted scheme.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a location that can't work: a header or query name that is
    /// not a token, the `Authorization` or `Cookie` header, a header a token location uses,
    /// the `Bearer` or `DPoP` scheme.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use jwtguard_core::api_key::{ApiKeyPrincipal, ApiKeys, MemoryApiKeyStore};
    /// use jwtguard_core::request::{ApiKeyLocation, CredentialOrder};
    /// use jwtguard_core::{Authenticator, Validator};
    ///
    /// # async fn run(validator: Validator) -> Result<(), jwtguard_core::Error> {
    /// let store = Arc::new(MemoryApiKeyStore::new());
    /// store.insert("k-123", ApiKeyPrincipal::new("batch-job").with_scopes(["write"]));
    /// let authenticator = Authenticator::new(validator)
    ///     .api_keys(ApiKeys::new(store), ApiKeyLocation::default())?
    ///     .credential_order(CredentialOrder::TokenFirst);
    /// # Ok(()) }
    /// ```
    pub fn api_keys(mut self, keys: ApiKeys, location: ApiKeyLocation) -> Result<Self, Error> {
        let location = location.checked()?;
        check_apart(&self.inner.locations, Some(&location))?;
        let inner = Arc::make_mut(&mut self.inner);
        inner.api_keys = Some((keys, location));
        inner.accepted = inner.accepted_schemes();
        Ok(self)
    }

    /// Also accepts DPoP-bound tokens (RFC 9449): `Authorization: DPoP <token>` with one
    /// `DPoP` proof, checked by `verifier`. A token with `cnf.jkt` passes only with a proof
    /// signed by that key. Under [`DpopMode::Allowed`](crate::dpop::DpopMode::Allowed) bearer
    /// tokens keep working; under [`DpopMode::Required`](crate::dpop::DpopMode::Required)
    /// they are refused. A different policy per route group is a different authenticator on
    /// that group.
    ///
    /// Without it, `Authorization: DPoP` is not read, and a DPoP-bound token sent as `Bearer`
    /// is refused (401) either way: a bound token is never downgraded.
    pub fn dpop(mut self, verifier: DpopVerifier) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.dpop_scheme = Some(dpop::scheme(&verifier));
        inner.dpop = Some(verifier);
        inner.accepted = inner.accepted_schemes();
        self
    }

    /// What happens to a request that carries both a bearer token and an API key. Default
    /// [`CredentialOrder::OneOnly`]: it is refused as `invalid_request` (400). With an order,
    /// the first credential is checked and the other ignored: a refused first credential is
    /// not retried with the second.
    pub fn credential_order(mut self, order: CredentialOrder) -> Self {
        Arc::make_mut(&mut self.inner).order = order;
        self
    }

    /// How refusals are rendered. Default terse: no `error_description`, no realm.
    pub fn response_options(mut self, options: ResponseOptions) -> Self {
        Arc::make_mut(&mut self.inner).response = Arc::new(options);
        self
    }

    /// The validator that checks tokens.
    pub fn validator(&self) -> &Validator {
        &self.inner.validator
    }

    /// Names the resource's metadata (RFC 9728, see
    /// [`ResourceMetadata`](crate::resource_metadata::ResourceMetadata)) as
    /// `resource_metadata` in every `Bearer` and `DPoP` challenge, keeping the other response
    /// options. Default: not named.
    pub fn resource_metadata_url(mut self, url: impl Into<String>) -> Self {
        let options = Arc::make_mut(&mut Arc::make_mut(&mut self.inner).response);
        options.resource_metadata = Some(url.into());
        self
    }

    /// How refusals are rendered.
    pub fn options(&self) -> &ResponseOptions {
        &self.inner.response
    }

    /// Where tokens are looked for, in order.
    pub(crate) fn locations(&self) -> &[TokenLocation] {
        &self.inner.locations
    }

    /// Where API keys are looked for, when API keys are accepted.
    #[cfg(feature = "utoipa")]
    pub(crate) fn api_key_location(&self) -> Option<&ApiKeyLocation> {
        self.inner.api_keys.as_ref().map(|(_, location)| location)
    }

    /// Whether every bearer token is introspected ([`TokenRouting::OpaqueOnly`]).
    #[cfg(feature = "utoipa")]
    pub(crate) fn introspects_every_token(&self) -> bool {
        matches!(
            self.inner.introspection,
            Some((_, TokenRouting::OpaqueOnly))
        )
    }

    /// The DPoP proof check, when DPoP is on.
    pub(crate) fn dpop_verifier(&self) -> Option<&DpopVerifier> {
        self.inner.dpop.as_ref()
    }

    /// Finds the request's token. No token is [`ErrorKind::MissingToken`]; a token in two
    /// places is [`ErrorKind::InvalidRequest`].
    pub fn find_token<'r>(&self, request: &'r dyn RequestView) -> Result<Cow<'r, str>, Error> {
        find_token(&self.inner.locations, request)
    }

    /// [`authenticate`](Self::authenticate) without waiting, when the request needs none: no
    /// credential, a malformed one, or a bearer JWT checked with the current keys (cache
    /// included). `None` when it would wait: an unknown `kid`, introspection, an API key, a
    /// DPoP proof (its replay record), or asynchronous checks; then call `authenticate`, which
    /// gives the same answer. The adapters answer most requests this way, without a future of
    /// their own.
    pub fn authenticate_now(
        &self,
        request: &dyn RequestView,
        anonymous: Anonymous,
    ) -> Option<Result<RequestAuth, Rejection>> {
        let presented = match self.presented(request) {
            Ok(presented) => presented,
            Err((error, about)) => return Some(Err(self.reject_about(error, about))),
        };
        let verified = match presented {
            Some(Presented::Token(token)) => {
                let routed_to_validator = match &self.inner.introspection {
                    None | Some((_, TokenRouting::JwtOnly)) => true,
                    Some((_, TokenRouting::Both)) => shaped_like_jws(&token),
                    Some((_, TokenRouting::OpaqueOnly | TokenRouting::IntrospectIssuerJwts)) => {
                        false
                    }
                };
                if !routed_to_validator {
                    return None;
                }
                self.bearer_allowed().and_then(|()| {
                    let checked = self.inner.validator.validate_now(&token);
                    checked
                        .map(|verified| verified.and_then(|v| dpop::unbound(&v).map(|()| v)))
                        .transpose()
                        .map_err(|error| (error, Some(Scheme::Bearer)))
                })
            }
            Some(Presented::Dpop(_) | Presented::ApiKey(_)) => return None,
            None if anonymous == Anonymous::Allowed => {
                return Some(Ok(RequestAuth::new(None, self.clone())));
            }
            None => Err((
                Error::new(ErrorKind::MissingToken, "no credential in the request"),
                None,
            )),
        };
        Some(match verified {
            Ok(Some(token)) => Ok(RequestAuth::new(Some(token), self.clone())),
            Ok(None) => return None,
            Err((error, about)) => Err(self.reject_about(error, about)),
        })
    }

    /// What an adapter's middleware does for each request: finds the credential (a bearer
    /// token, or an API key when they are accepted) and verifies it. A request without one
    /// passes anonymously only under [`Anonymous::Allowed`]; a present but bad credential is
    /// refused either way.
    pub async fn authenticate<R: RequestView>(
        &self,
        request: &R,
        anonymous: Anonymous,
    ) -> Result<RequestAuth, Rejection> {
        let presented = match self.presented(request) {
            Ok(presented) => presented,
            Err((error, about)) => return Err(self.reject_about(error, about)),
        };
        let proven = matches!(presented, Some(Presented::Dpop(_)));
        let verified = match presented {
            Some(Presented::Token(token)) => self.verify_bearer(&token).await,
            Some(Presented::Dpop(token)) => {
                let proof = self
                    .inner
                    .dpop
                    .as_ref()
                    .map(|verifier| dpop::ProofRequest::of(verifier, request));
                self.verify_dpop(proof, &token).await
            }
            Some(Presented::ApiKey(key)) => self.verify_api_key(&key).await.map_err(|error| {
                let location = self.inner.api_keys.as_ref().map(|(_, at)| at.clone());
                (error, location.map(Scheme::ApiKey))
            }),
            None if anonymous == Anonymous::Allowed => {
                return Ok(RequestAuth::new(None, self.clone()));
            }
            None => Err((
                Error::new(ErrorKind::MissingToken, "no credential in the request"),
                None,
            )),
        };
        match verified {
            Ok(token) => {
                let mut auth = RequestAuth::new(Some(token), self.clone());
                auth.proven = proven;
                Ok(auth)
            }
            Err((error, about)) => Err(self.reject_about(error, about)),
        }
    }

    /// The one credential the request carries, or `None`. A malformed one is refused with the
    /// scheme it is about; a token and an API key together are refused unless an order is
    /// configured, in which case the second is looked at only when the first is absent.
    fn presented<'r>(
        &self,
        request: &'r dyn RequestView,
    ) -> Result<Option<Presented<'r>>, (Error, Option<Scheme>)> {
        let Some((_, location)) = &self.inner.api_keys else {
            return self.bearer(request);
        };
        let key = || {
            location
                .find(request)
                .map(|key| key.map(Presented::ApiKey))
                .map_err(|error| (error, Some(Scheme::ApiKey(location.clone()))))
        };
        let token = || {
            self.bearer(request).map_err(|(error, about)| {
                // With the key in `Authorization` too, a malformed header may be either.
                let about = match location {
                    ApiKeyLocation::Authorization(_) => None,
                    _ => about,
                };
                (error, about)
            })
        };
        match self.inner.order {
            CredentialOrder::TokenFirst => match token()? {
                Some(found) => Ok(Some(found)),
                None => key(),
            },
            CredentialOrder::ApiKeyFirst => match key()? {
                Some(found) => Ok(Some(found)),
                None => token(),
            },
            CredentialOrder::OneOnly => match (token()?, key()?) {
                (Some(_), Some(_)) => Err((
                    Error::new(
                        ErrorKind::InvalidRequest,
                        "the request carries both a bearer token and an API key",
                    ),
                    None,
                )),
                (token, key) => Ok(token.or(key)),
            },
        }
    }

    /// The request's token (with the DPoP scheme when DPoP is on, else from the token
    /// locations), or `None`. A `DPoP` proof without a token, or several, is
    /// [`ErrorKind::InvalidRequest`].
    fn bearer<'r>(
        &self,
        request: &'r dyn RequestView,
    ) -> Result<Option<Presented<'r>>, (Error, Option<Scheme>)> {
        if self.inner.dpop.is_some() {
            let about = || self.inner.dpop_scheme.clone();
            let proof = dpop::proof(request).map_err(|error| (error, about()))?;
            if let Some(token) = dpop::dpop_token(request).map_err(|error| (error, about()))? {
                return Ok(Some(Presented::Dpop(token)));
            }
            let token = self.locations_token(request)?;
            if token.is_none() && proof.is_some() {
                return Err((
                    Error::new(ErrorKind::InvalidRequest, "a DPoP proof without a token"),
                    about(),
                ));
            }
            return Ok(token.map(Presented::Token));
        }
        Ok(self.locations_token(request)?.map(Presented::Token))
    }

    /// The token of the configured locations, or `None`.
    fn locations_token<'r>(
        &self,
        request: &'r dyn RequestView,
    ) -> Result<Option<Cow<'r, str>>, (Error, Option<Scheme>)> {
        match self.find_token(request) {
            Ok(token) => Ok(Some(token)),
            Err(error) if error.is_missing_token() => Ok(None),
            Err(error) => Err((error, Some(Scheme::Bearer))),
        }
    }

    /// Verifies a token that came with the Bearer scheme (or another location): it must not be
    /// DPoP-bound, and DPoP must not be required.
    async fn verify_bearer(&self, token: &str) -> Result<VerifiedToken, (Error, Option<Scheme>)> {
        self.bearer_allowed()?;
        self.verify(token)
            .await
            .map_err(|error| (error, Some(Scheme::Bearer)))
    }

    /// A token with the Bearer scheme (or another location) is refused when DPoP is required.
    fn bearer_allowed(&self) -> Result<(), (Error, Option<Scheme>)> {
        match &self.inner.dpop {
            Some(verifier) if verifier.mode() == DpopMode::Required => Err((
                Error::new(
                    ErrorKind::InvalidDpopProof,
                    "DPoP is required: send the token with the DPoP scheme and a proof",
                ),
                self.inner.dpop_scheme.clone(),
            )),
            _ => Ok(()),
        }
    }

    /// Verifies a token that came with the DPoP scheme, and its proof.
    async fn verify_dpop(
        &self,
        proof: Option<dpop::ProofRequest<'_>>,
        token: &str,
    ) -> Result<VerifiedToken, (Error, Option<Scheme>)> {
        let Some(verifier) = &self.inner.dpop else {
            return Err((
                Error::new(
                    ErrorKind::Misconfigured,
                    "a DPoP token was checked by an authenticator without DPoP",
                ),
                None,
            ));
        };
        let about = || self.inner.dpop_scheme.clone();
        let Some(proof) = proof else {
            return Err((
                Error::new(ErrorKind::Misconfigured, "no proof request was read"),
                about(),
            ));
        };
        let verified = self
            .verify_token(token)
            .await
            .map_err(|error| (error, about()))?;
        dpop::prove(verifier, proof, token, &verified)
            .await
            .map_err(|error| (error, about()))?;
        Ok(verified)
    }

    /// Checks an API key and turns its principal into a verified token.
    async fn verify_api_key(&self, key: &str) -> Result<VerifiedToken, Error> {
        let Some((keys, _)) = &self.inner.api_keys else {
            return Err(Error::new(
                ErrorKind::Misconfigured,
                "an API key was checked by an authenticator without API keys",
            ));
        };
        api_key_token(&*keys.check(key).await?)
    }

    /// Verifies a bearer token on the path its routing gives it (the validator, or the
    /// introspector), as the middleware does for `Authorization: Bearer`: a token bound to a
    /// key (`cnf`) is refused, since no proof comes with it.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, Error> {
        let verified = self.verify_token(token).await?;
        dpop::unbound(&verified)?;
        Ok(verified)
    }

    /// Verifies a token on the path its routing gives it, bound or not.
    async fn verify_token(&self, token: &str) -> Result<VerifiedToken, Error> {
        match &self.inner.introspection {
            Some((introspector, TokenRouting::OpaqueOnly)) => introspector.introspect(token).await,
            Some((introspector, TokenRouting::Both | TokenRouting::IntrospectIssuerJwts))
                if !shaped_like_jws(token) =>
            {
                introspector.introspect(token).await
            }
            Some((introspector, TokenRouting::IntrospectIssuerJwts)) => {
                let verified = self.inner.validator.validate(token).await?;
                if verified.issuer() == introspector.issuer() {
                    introspector.introspect(token).await?;
                }
                Ok(verified)
            }
            _ => self.inner.validator.validate(token).await,
        }
    }

    /// `error` about a bearer token, rendered with this authenticator's options.
    pub fn reject(&self, error: Error) -> Rejection {
        self.reject_about(error, Some(Scheme::Bearer))
    }

    /// `error` about the credential `about` (none: about no credential, or two), rendered
    /// with this authenticator's options and challenges.
    fn reject_about(&self, error: Error, about: Option<Scheme>) -> Rejection {
        Rejection::with_schemes(
            error,
            Arc::clone(&self.inner.response),
            Arc::clone(&self.inner.accepted),
            about,
        )
    }

    /// `error` about `token` (an anonymous request's when `None`).
    fn reject_for(&self, error: Error, token: Option<&VerifiedToken>) -> Rejection {
        let about = match token.map(VerifiedToken::credential) {
            None => None,
            Some(CredentialKind::ApiKey) => self
                .inner
                .api_keys
                .as_ref()
                .map(|(_, location)| Scheme::ApiKey(location.clone())),
            Some(_) => Some(Scheme::Bearer),
        };
        self.reject_about(error, about)
    }
}

impl Inner {
    /// The schemes refusals name: `Bearer` (unless DPoP is required), `DPoP` when it is on,
    /// then the API key's.
    fn accepted_schemes(&self) -> Arc<[Scheme]> {
        let bearer = self
            .dpop
            .as_ref()
            .is_none_or(|verifier| verifier.mode() == DpopMode::Allowed)
            .then_some(Scheme::Bearer);
        let dpop = self.dpop_scheme.clone();
        let api_key = self
            .api_keys
            .as_ref()
            .map(|(_, location)| Scheme::ApiKey(location.clone()));
        bearer.into_iter().chain(dpop).chain(api_key).collect()
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
            .field(
                "api_keys",
                &self
                    .inner
                    .api_keys
                    .as_ref()
                    .map(|(keys, location)| (keys, location)),
            )
            .field("order", &self.inner.order)
            .field("dpop", &self.inner.dpop)
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
    /// Whether the token came with the DPoP scheme and a valid proof.
    proven: bool,
}

impl RequestAuth {
    /// The outcome for a request.
    pub fn new(token: Option<VerifiedToken>, authenticator: Authenticator) -> Self {
        Self {
            token,
            authenticator,
            proven: false,
        }
    }

    /// Whether the token came with the DPoP scheme and a proof that passed (RFC 9449).
    pub fn dpop_proven(&self) -> bool {
        self.proven
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
            .ok_or_else(|| self.reject(Error::new(ErrorKind::MissingToken, "no credential")))
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

    /// Checks a requirement (when it fails, the error its kind says: see [`Requirement`];
    /// [`ErrorKind::MissingToken`] for an anonymous request).
    pub fn require(&self, requirement: &Requirement) -> Result<(), Rejection> {
        requirement
            .check(self.required()?)
            .map_err(|error| self.reject(error))
    }

    /// `error`, rendered with the options of the authenticator that decided, its challenge
    /// naming the scheme of the request's credential.
    pub fn reject(&self, error: Error) -> Rejection {
        if self.proven {
            let about = self.authenticator.inner.dpop_scheme.clone();
            return self.authenticator.reject_about(error, about);
        }
        self.authenticator.reject_for(error, self.token.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_key::{ApiKeyPrincipal, MemoryApiKeyStore};
    use crate::jose::Algorithm;
    use crate::keys::KeySet;
    use crate::request::location::{HeaderLookup, HeaderPairs};

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

    struct FailingStore;

    impl crate::api_key::ApiKeyStore for FailingStore {
        fn lookup<'a>(
            &'a self,
            _digest: &'a crate::api_key::KeyDigest,
        ) -> crate::future::BoxFuture<'a, Result<Option<ApiKeyPrincipal>, Error>> {
            Box::pin(async { Err(Error::new(ErrorKind::Fetch, "the database is down")) })
        }
    }

    async fn with_keys(order: CredentialOrder) -> Authenticator {
        let store = Arc::new(MemoryApiKeyStore::new());
        store.insert(
            "k-batch",
            ApiKeyPrincipal::new("batch-job")
                .with_roles(["admin"])
                .with_scopes(["write"]),
        );
        Authenticator::new(validator().await)
            .api_keys(ApiKeys::new(store), ApiKeyLocation::default())
            .unwrap()
            .credential_order(order)
    }

    fn challenge(rejection: &Rejection) -> String {
        rejection.render().www_authenticate.unwrap_or_default()
    }

    #[tokio::test]
    async fn an_api_key_is_a_credential_like_a_token() {
        let authenticator = with_keys(CredentialOrder::OneOnly).await;
        let auth = authenticator
            .authenticate(
                &HeaderPairs::new(&[("X-API-Key", "k-batch")]),
                Anonymous::Refused,
            )
            .await
            .unwrap();
        let token = auth.token().unwrap();
        assert_eq!(token.credential(), CredentialKind::ApiKey);
        assert_eq!(token.subject(), Some("batch-job"));
        auth.require(&Requirement::role("admin")).unwrap();
        let refused = auth.require(&Requirement::scope("read")).unwrap_err();
        assert_eq!(refused.status(), 403);
        assert_eq!(
            challenge(&refused),
            r#"ApiKey in="header", name="X-API-Key", error="insufficient_scope", scope="read""#
        );

        let unknown = authenticator
            .authenticate(
                &HeaderPairs::new(&[("X-API-Key", "k-other")]),
                Anonymous::Allowed,
            )
            .await
            .unwrap_err();
        assert_eq!(unknown.status(), 401);
        assert_eq!(
            challenge(&unknown),
            r#"ApiKey in="header", name="X-API-Key", error="invalid_token""#
        );

        let missing = authenticator
            .authenticate(&HeaderPairs::new(&[]), Anonymous::Refused)
            .await
            .unwrap_err();
        assert_eq!(missing.status(), 401);
        assert_eq!(
            challenge(&missing),
            r#"Bearer, ApiKey in="header", name="X-API-Key""#
        );

        let bad_token = authenticator
            .authenticate(
                &HeaderPairs::new(&[("Authorization", "Bearer a.b.c")]),
                Anonymous::Refused,
            )
            .await
            .unwrap_err();
        assert_eq!(bad_token.status(), 401);
        assert_eq!(challenge(&bad_token), r#"Bearer error="invalid_token""#);
    }

    #[tokio::test]
    async fn two_credentials_are_refused_unless_an_order_is_set() {
        let both = [("Authorization", "Bearer a.b.c"), ("X-API-Key", "k-batch")];
        let refused = with_keys(CredentialOrder::OneOnly)
            .await
            .authenticate(&HeaderPairs::new(&both), Anonymous::Refused)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), 400);
        assert_eq!(
            challenge(&refused),
            r#"Bearer error="invalid_request", ApiKey in="header", name="X-API-Key", error="invalid_request""#
        );
        // With an order, the first credential is checked: here a bad token, not the good key.
        let token_first = with_keys(CredentialOrder::TokenFirst)
            .await
            .authenticate(&HeaderPairs::new(&both), Anonymous::Refused)
            .await
            .unwrap_err();
        assert_eq!(token_first.status(), 401);
        let key_first = with_keys(CredentialOrder::ApiKeyFirst)
            .await
            .authenticate(&HeaderPairs::new(&both), Anonymous::Refused)
            .await
            .unwrap();
        assert_eq!(key_first.token().unwrap().subject(), Some("batch-job"));
    }

    #[tokio::test]
    async fn with_an_order_the_second_credential_is_not_looked_at() {
        let key_first = with_keys(CredentialOrder::ApiKeyFirst).await;
        let malformed_token = [("Authorization", "Bearer a b"), ("X-API-Key", "k-batch")];
        let auth = key_first
            .authenticate(&HeaderPairs::new(&malformed_token), Anonymous::Refused)
            .await
            .unwrap();
        assert_eq!(auth.token().unwrap().subject(), Some("batch-job"));

        let token_first = with_keys(CredentialOrder::TokenFirst).await;
        let two_keys = [("X-API-Key", "k-batch"), ("X-API-Key", "k-other")];
        let refused = token_first
            .authenticate(&HeaderPairs::new(&two_keys), Anonymous::Refused)
            .await
            .unwrap_err();
        assert_eq!(
            refused.status(),
            400,
            "no token: the keys are the credential"
        );
        let with_token = [
            ("Authorization", "Bearer a.b.c"),
            ("X-API-Key", "k-batch"),
            ("X-API-Key", "k-other"),
        ];
        let refused = token_first
            .authenticate(&HeaderPairs::new(&with_token), Anonymous::Refused)
            .await
            .unwrap_err();
        assert_eq!(
            refused.status(),
            401,
            "the token is checked, the keys ignored"
        );
        assert_eq!(challenge(&refused), r#"Bearer error="invalid_token""#);
    }

    #[tokio::test]
    async fn a_header_holds_the_token_or_the_key_not_both() {
        let keys = || ApiKeys::new(Arc::new(MemoryApiKeyStore::new()));
        let error = Authenticator::new(validator().await)
            .token_locations([TokenLocation::Header("x-api-key".into())])
            .unwrap()
            .api_keys(keys(), ApiKeyLocation::default())
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        let error = Authenticator::new(validator().await)
            .api_keys(keys(), ApiKeyLocation::default())
            .unwrap()
            .token_locations([
                TokenLocation::Bearer,
                TokenLocation::Header("X-API-Key".into()),
            ])
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
    }

    #[tokio::test]
    async fn a_malformed_authorization_names_both_schemes_when_both_live_there() {
        let authenticator = Authenticator::new(validator().await)
            .api_keys(
                ApiKeys::new(Arc::new(MemoryApiKeyStore::new())),
                ApiKeyLocation::authorization(),
            )
            .unwrap();
        let two = [("Authorization", "ApiKey a"), ("Authorization", "ApiKey b")];
        let refused = authenticator
            .authenticate(&HeaderPairs::new(&two), Anonymous::Refused)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), 400);
        assert_eq!(
            challenge(&refused),
            r#"Bearer error="invalid_request", ApiKey error="invalid_request""#
        );
    }

    #[tokio::test]
    async fn a_failing_store_is_unavailable_never_unauthorized() {
        let authenticator = Authenticator::new(validator().await)
            .api_keys(
                ApiKeys::new(Arc::new(FailingStore)),
                ApiKeyLocation::authorization(),
            )
            .unwrap();
        let refused = authenticator
            .authenticate(
                &HeaderPairs::new(&[("Authorization", "ApiKey k-1")]),
                Anonymous::Allowed,
            )
            .await
            .unwrap_err();
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.render().www_authenticate, None);
        let missing = authenticator
            .authenticate(&HeaderPairs::new(&[]), Anonymous::Refused)
            .await
            .unwrap_err();
        assert_eq!(challenge(&missing), "Bearer, ApiKey");
    }

    mod dpop_requests {
        use super::*;
        use crate::dpop::{DpopMode, DpopVerifier, NonceSource};
        use jwtguard_testkit::TestKey;

        const ALGS: &str = r#"DPoP algs="ES256 RS256 PS256 EdDSA""#;
        const URI: &str = "https://api.example.test/orders";

        fn token(bound_to: Option<&TestKey>) -> String {
            let signer = TestKey::ec_p256("unused");
            let mut token = signer
                .token()
                .header("alg", "HS256")
                .claim("iss", "https://idp.example")
                .claim("aud", "api")
                .claim("sub", "svc")
                .claim("exp", 4_000_000_000u64);
            if let Some(key) = bound_to {
                token = token.claim("cnf", serde_json::json!({"jkt": key.jwk_thumbprint()}));
            }
            token.sign_hmac(&[7u8; 32])
        }

        async fn authenticator(mode: DpopMode, nonces: Option<NonceSource>) -> Authenticator {
            let mut verifier = DpopVerifier::builder()
                .public_url("https://api.example.test")
                .mode(mode);
            if let Some(nonces) = nonces {
                verifier = verifier.nonces(nonces);
            }
            Authenticator::new(validator().await).dpop(verifier.build().unwrap())
        }

        async fn send(
            authenticator: &Authenticator,
            headers: &[(&str, &str)],
        ) -> Result<RequestAuth, Rejection> {
            let view = HeaderPairs::new(headers).with_target("GET", "/orders");
            authenticator.authenticate(&view, Anonymous::Refused).await
        }

        #[tokio::test]
        async fn a_bound_token_passes_with_its_proof_only() {
            let authenticator = authenticator(DpopMode::Allowed, None).await;
            let client = TestKey::ec_p256("client");
            let bound = token(Some(&client));
            let dpop = format!("DPoP {bound}");
            let proof = client.dpop_proof("GET", URI, &bound).sign();
            let auth = send(
                &authenticator,
                &[("Authorization", &dpop), ("DPoP", &proof)],
            )
            .await
            .unwrap();
            assert!(auth.dpop_proven());
            let refused = auth.require(&Requirement::scope("write")).unwrap_err();
            assert_eq!(
                challenge(&refused),
                format!(r#"Bearer, {ALGS}, error="insufficient_scope", scope="write""#)
            );

            // As Bearer: no downgrade.
            let bearer = format!("Bearer {bound}");
            let refused = send(
                &authenticator,
                &[("Authorization", &bearer), ("DPoP", &proof)],
            )
            .await
            .unwrap_err();
            assert_eq!(challenge(&refused), r#"Bearer error="invalid_token""#);
            // No proof, or another key's.
            let refused = send(&authenticator, &[("Authorization", &dpop)])
                .await
                .unwrap_err();
            assert_eq!(
                challenge(&refused),
                format!(r#"Bearer, {ALGS}, error="invalid_dpop_proof""#)
            );
            let thief = TestKey::ec_p256("thief");
            let stolen = thief.dpop_proof("GET", URI, &bound).sign();
            let refused = send(
                &authenticator,
                &[("Authorization", &dpop), ("DPoP", &stolen)],
            )
            .await
            .unwrap_err();
            assert_eq!(refused.error().kind(), ErrorKind::InvalidDpopProof);
            // A proof made for another path of this server.
            let elsewhere = client
                .dpop_proof("GET", "https://api.example.test/admin", &bound)
                .sign();
            let refused = send(
                &authenticator,
                &[("Authorization", &dpop), ("DPoP", &elsewhere)],
            )
            .await
            .unwrap_err();
            assert_eq!(refused.error().kind(), ErrorKind::InvalidDpopProof);
        }

        #[tokio::test]
        async fn the_dpop_scheme_needs_a_bound_token_and_one_proof() {
            let authenticator = authenticator(DpopMode::Allowed, None).await;
            let client = TestKey::ec_p256("client");
            let unbound = token(None);
            let proof = client.dpop_proof("GET", URI, &unbound).sign();
            let dpop = format!("DPoP {unbound}");
            let refused = send(
                &authenticator,
                &[("Authorization", &dpop), ("DPoP", &proof)],
            )
            .await
            .unwrap_err();
            assert_eq!(
                challenge(&refused),
                format!(r#"Bearer, {ALGS}, error="invalid_token""#)
            );
            // Bearer tokens still pass under Allowed.
            let bearer = format!("Bearer {unbound}");
            send(&authenticator, &[("Authorization", &bearer)])
                .await
                .unwrap();

            let bound = token(Some(&client));
            let dpop = format!("DPoP {bound}");
            let two = [
                ("Authorization", dpop.as_str()),
                ("DPoP", "a"),
                ("DPoP", "b"),
            ];
            assert_eq!(send(&authenticator, &two).await.unwrap_err().status(), 400);
            let alone = send(&authenticator, &[("DPoP", &proof)]).await.unwrap_err();
            assert_eq!(alone.status(), 400);
            let missing = send(&authenticator, &[]).await.unwrap_err();
            assert_eq!(challenge(&missing), format!("Bearer, {ALGS}"));
        }

        #[tokio::test]
        async fn required_refuses_bearer_tokens() {
            let authenticator = authenticator(DpopMode::Required, None).await;
            let bearer = format!("Bearer {}", token(None));
            let refused = send(&authenticator, &[("Authorization", &bearer)])
                .await
                .unwrap_err();
            assert_eq!(
                challenge(&refused),
                format!(r#"{ALGS}, error="invalid_dpop_proof""#)
            );
            let missing = send(&authenticator, &[]).await.unwrap_err();
            assert_eq!(challenge(&missing), ALGS);
        }

        #[tokio::test]
        async fn a_missing_nonce_is_answered_with_one() {
            let nonces = NonceSource::new(&[5; 32], std::time::Duration::from_secs(60)).unwrap();
            let authenticator = authenticator(DpopMode::Allowed, Some(nonces)).await;
            let client = TestKey::ec_p256("client");
            let bound = token(Some(&client));
            let dpop = format!("DPoP {bound}");
            let proof = client.dpop_proof("GET", URI, &bound).sign();
            let refused = send(
                &authenticator,
                &[("Authorization", &dpop), ("DPoP", &proof)],
            )
            .await
            .unwrap_err();
            let answer = refused.render();
            assert_eq!(
                answer.www_authenticate.as_deref(),
                Some(format!(r#"Bearer, {ALGS}, error="use_dpop_nonce""#).as_str())
            );
            let nonce = answer.dpop_nonce.clone().expect("a nonce");
            assert!(answer.headers().contains(&("dpop-nonce", nonce.as_str())));
            let proof = client
                .dpop_proof("GET", URI, &bound)
                .claim("nonce", nonce)
                .sign();
            send(
                &authenticator,
                &[("Authorization", &dpop), ("DPoP", &proof)],
            )
            .await
            .unwrap();
        }
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
