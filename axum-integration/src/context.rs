//! What the layer leaves in the request for extractors and guards.

use jwtguard_core::{Validator, VerifiedToken};

/// Put into the request extensions by [`JwtLayer`](crate::JwtLayer): the verified token (none
/// when the layer is optional and the request had no token) and the validator that checked it.
#[derive(Clone)]
pub(crate) struct AuthContext {
    pub(crate) token: Option<VerifiedToken>,
    pub(crate) validator: Validator,
}
