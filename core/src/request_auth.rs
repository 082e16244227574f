//! What an adapter's middleware leaves in a request, and the decisions extractors and guards
//! make on it: the same for every web framework.

use std::sync::OnceLock;

use serde::de::DeserializeOwned;

use crate::access::Requirement;
use crate::error::{Error, ErrorKind};
use crate::extract::RequestView;
use crate::token::VerifiedToken;
use crate::validator::Validator;

/// The outcome of authentication for one request: the verified token (none for an anonymous
/// request under optional authentication) and the validator that checked it.
#[derive(Clone, Debug)]
pub struct RequestAuth {
    token: Option<VerifiedToken>,
    validator: Validator,
}

impl RequestAuth {
    /// The outcome for a request.
    pub fn new(token: Option<VerifiedToken>, validator: Validator) -> Self {
        Self { token, validator }
    }

    /// What an adapter's middleware does for each request: finds the token and validates it.
    /// With `optional`, a request without a token passes anonymously; a present but bad token
    /// is refused either way. The error is the one to answer the request with.
    pub async fn authenticate<R: RequestView>(
        validator: &Validator,
        request: &R,
        optional: bool,
    ) -> Result<Self, Error> {
        let token = match validator.validate_request(request).await {
            Ok(verified) => Some(verified),
            Err(error) if error.is_missing_token() && optional => None,
            Err(error) => return Err(error),
        };
        Ok(Self::new(token, validator.clone()))
    }

    /// The verified token, if the request had one.
    pub fn token(&self) -> Option<&VerifiedToken> {
        self.token.as_ref()
    }

    /// The validator that checked the request.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// The verified token, or [`ErrorKind::MissingToken`] for an anonymous request.
    pub fn required(&self) -> Result<&VerifiedToken, Error> {
        self.token
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::MissingToken, "no bearer token"))
    }

    /// The claims as `T`; [`ErrorKind::MissingToken`] for an anonymous request.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.required()?.deserialize()
    }

    /// The claims as `T`, or `None` for an anonymous request.
    pub fn optional_claims<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        self.token
            .as_ref()
            .map(VerifiedToken::deserialize)
            .transpose()
    }

    /// Checks a role or scope requirement ([`ErrorKind::InsufficientScope`] when it fails,
    /// [`ErrorKind::MissingToken`] for an anonymous request).
    pub fn require(&self, requirement: &Requirement) -> Result<(), Error> {
        requirement.check(self.required()?)
    }

    /// The error for an extractor or guard used where the middleware did not run: the
    /// application is wired wrongly ([`ErrorKind::Misconfigured`], 500).
    pub fn not_installed(what: &'static str) -> Error {
        Error::new(ErrorKind::Misconfigured, what)
    }
}

/// A requirement known at compile time, as the attribute guards declare them.
pub trait StaticRequirement {
    /// The requirement.
    fn requirement() -> &'static Requirement;
}

/// Builds a requirement once, for [`StaticRequirement`] implementations.
pub fn once(
    cell: &'static OnceLock<Requirement>,
    make: impl FnOnce() -> Requirement,
) -> &'static Requirement {
    cell.get_or_init(make)
}

/// An error together with how it is rendered: what the adapters' rejections carry, so that
/// both answer from one place.
#[derive(Debug)]
pub struct Rejection {
    error: Error,
    options: crate::ResponseOptions,
}

impl Rejection {
    /// An error rendered with `options`.
    pub fn new(error: Error, options: &crate::ResponseOptions) -> Self {
        Self {
            error,
            options: options.clone(),
        }
    }

    /// An error rendered with the options of the validator that checked the request.
    pub fn for_request(error: Error, auth: &RequestAuth) -> Self {
        Self::new(error, auth.validator().response_options())
    }

    /// An error rendered with the default options (when no validator is at hand).
    pub fn plain(error: Error) -> Self {
        Self::new(error, &crate::ResponseOptions::default())
    }

    /// The error.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// Turns the rejection back into its error.
    pub fn into_error(self) -> Error {
        self.error
    }

    /// The HTTP answer.
    pub fn render(&self) -> crate::ErrorResponse {
        self.error.to_response(&self.options)
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}
