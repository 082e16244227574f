//! A request's DPoP side (RFC 9449 §7): the `Authorization: DPoP` token, its one `DPoP` proof,
//! and the binding of the token to the proof's key.

use std::borrow::Cow;
use std::sync::Arc;

use super::location::{RequestView, authorization_token, one_header_value};
use super::rejection::Scheme;
use crate::dpop::DpopVerifier;
use crate::error::{Error, ErrorKind};
use crate::validator::token::VerifiedToken;

/// The challenge scheme of `verifier`: `DPoP algs="..."`.
pub(super) fn scheme(verifier: &DpopVerifier) -> Scheme {
    let algs: Vec<&str> = verifier
        .algorithms()
        .iter()
        .map(|alg| alg.as_str())
        .collect();
    Scheme::Dpop(Arc::from(algs.join(" ")))
}

/// The token of `Authorization: DPoP <token>`, or `None` for another scheme or none.
pub(super) fn dpop_token<'r>(request: &'r dyn RequestView) -> Result<Option<Cow<'r, str>>, Error> {
    match authorization_token(request, "dpop") {
        Ok(token) => Ok(Some(Cow::Borrowed(token))),
        Err(error) if error.is_missing_token() => Ok(None),
        Err(error) => Err(error),
    }
}

/// The request's one `DPoP` header, or `None`. Several are [`ErrorKind::InvalidRequest`].
pub(super) fn proof(request: &dyn RequestView) -> Result<Option<&str>, Error> {
    let Some(value) = one_header_value(request, "dpop", "DPoP")? else {
        return Ok(None);
    };
    std::str::from_utf8(value)
        .map(|proof| Some(proof.trim()))
        .map_err(|_| Error::new(ErrorKind::InvalidDpopProof, "the DPoP header is not text"))
}

/// What the proof check needs of a request, read before anything waits (the request view
/// need not be `Sync`).
pub(super) struct ProofRequest<'r> {
    proof: Result<Option<&'r str>, Error>,
    target: Result<(&'r str, String), Error>,
}

impl<'r> ProofRequest<'r> {
    /// The request's proof, method and URI (as `verifier` computes it).
    pub(super) fn of(verifier: &DpopVerifier, request: &'r dyn RequestView) -> Self {
        let target = match (request.method(), request.path()) {
            (Some(method), Some(path)) => verifier
                .request_uri(path, request.peer(), |name| request.header_values(name))
                .map(|uri| (method, uri)),
            _ => Err(Error::new(
                ErrorKind::Misconfigured,
                "the adapter shows no method or path: DPoP can't be checked",
            )),
        };
        Self {
            proof: proof(request),
            target,
        }
    }
}

/// Checks the request's proof for `token` (its `verified` form): a bound token needs a proof
/// signed by its key; a token without `cnf.jkt` is refused unless the verifier allows it (and
/// then its proof is checked all the same).
pub(super) async fn prove(
    verifier: &DpopVerifier,
    request: ProofRequest<'_>,
    token: &str,
    verified: &VerifiedToken,
) -> Result<(), Error> {
    let bound = verified.bound_key()?;
    if bound.is_none() && !verifier.allows_unbound() {
        return Err(Error::new(
            ErrorKind::InvalidClaim,
            "the token is not DPoP-bound (no cnf.jkt): send it with the Bearer scheme",
        ));
    }
    let proof = request.proof?.ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidDpopProof,
            "no DPoP proof with the DPoP scheme",
        )
    })?;
    let (method, uri) = request.target?;
    verifier.check(proof, method, &uri, token, bound).await?;
    Ok(())
}

/// A bearer token must not be bound to a key: a token with `cnf` (DPoP's `jkt`, or any other
/// confirmation this server can't check) sent as `Bearer` is refused, so that a stolen one
/// can't be downgraded (RFC 9449 §7.2).
pub(super) fn unbound(verified: &VerifiedToken) -> Result<(), Error> {
    if verified.is_sender_constrained() {
        return Err(Error::new(
            ErrorKind::InvalidClaim,
            "a token bound to a key (cnf) was sent as a bearer token",
        ));
    }
    Ok(())
}
