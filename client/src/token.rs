//! An access token the client side holds, and the unverified decode for inspection.

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use http::HeaderValue;
use jwtguard_core::provider::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind};

/// An access token obtained from a token endpoint. Its value never shows in `Debug`; read it
/// with [`expose`](Self::expose) to send it, or attach [`authorization`](Self::authorization).
#[derive(Clone)]
pub struct AccessToken {
    value: SecretString,
    authorization: HeaderValue,
    expires_at: SystemTime,
    obtained_at: SystemTime,
    scope: Option<String>,
    dpop: bool,
}

impl AccessToken {
    pub(crate) fn new(
        value: String,
        expires_at: SystemTime,
        obtained_at: SystemTime,
        scope: Option<String>,
    ) -> Result<Self, Error> {
        let mut authorization = HeaderValue::try_from(format!("Bearer {value}")).map_err(|_| {
            Error::new(
                ErrorKind::Protocol,
                "the access token holds characters a header can't carry",
            )
        })?;
        authorization.set_sensitive(true);
        Ok(Self {
            value: SecretString::from(value),
            authorization,
            expires_at,
            obtained_at,
            scope,
            dpop: false,
        })
    }

    /// The same token, issued as DPoP-bound (`token_type` `DPoP`): sent as
    /// `Authorization: DPoP <token>` with a proof.
    pub(crate) fn bound_to_dpop(mut self) -> Result<Self, Error> {
        let mut authorization =
            HeaderValue::try_from(format!("DPoP {}", self.value.expose_secret())).map_err(
                |_| {
                    Error::new(
                        ErrorKind::Protocol,
                        "the access token holds characters a header can't carry",
                    )
                },
            )?;
        authorization.set_sensitive(true);
        self.authorization = authorization;
        self.dpop = true;
        Ok(self)
    }

    /// Whether the token is DPoP-bound (RFC 9449): every call with it needs a proof signed by
    /// the manager's [`DpopKey`](crate::DpopKey).
    pub fn is_dpop(&self) -> bool {
        self.dpop
    }

    /// The token itself, to send. Keep it out of logs.
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }

    /// `Bearer <token>` (or `DPoP <token>` for a DPoP-bound one), ready for an `Authorization`
    /// header (marked sensitive, so that `http`'s and hyper's debug output hide it).
    pub fn authorization(&self) -> &HeaderValue {
        &self.authorization
    }

    /// When the token expires: from `expires_in` (or the defaults, see
    /// [`RenewalPolicy`](crate::RenewalPolicy)).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// When the token endpoint answered.
    pub fn obtained_at(&self) -> SystemTime {
        self.obtained_at
    }

    /// How long it has left at `now` (zero once expired).
    pub fn remaining_at(&self, now: SystemTime) -> Duration {
        self.expires_at.duration_since(now).unwrap_or_default()
    }

    /// The `scope` the server granted, when it said.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Whether this is the token `value` (in constant time for equal lengths).
    pub fn is(&self, value: &str) -> bool {
        let mine = self.expose().as_bytes();
        mine.len() == value.len()
            && aws_lc_rs::constant_time::verify_slices_are_equal(mine, value.as_bytes()).is_ok()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

/// Reads the payload of a compact JWS **without checking anything**: not the signature, not
/// the issuer, not the expiry. For inspection and logging only (which scopes did the server
/// grant, when does it expire), never to decide whom to trust: for that, use
/// `jwtguard::Validator`. Opaque tokens are [`ErrorKind::Protocol`].
///
/// ```
/// # use base64::Engine as _;
/// #[derive(serde::Deserialize)]
/// struct Peek { sub: String, exp: u64 }
///
/// let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
/// let token = format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(r#"{"sub":"svc","exp":1}"#));
/// let peek: Peek = jwtguard_client::decode_unverified(&token).unwrap();
/// assert_eq!(peek.sub, "svc");
/// ```
pub fn decode_unverified<T: DeserializeOwned>(token: &str) -> Result<T, Error> {
    let not_jws = || Error::new(ErrorKind::Protocol, "the token is not a compact JWS");
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(not_jws());
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| not_jws())?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::with_source(
            ErrorKind::Protocol,
            "the token's payload does not have the asked-for shape",
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_never_shows() {
        let now = SystemTime::now();
        let token = AccessToken::new("eyJ.secret.value".into(), now, now, None).unwrap();
        assert!(!format!("{token:?}").contains("secret"));
        assert!(!format!("{:?}", token.authorization()).contains("secret"));
        assert!(token.is("eyJ.secret.value"));
        assert!(!token.is("eyJ.secret.valuf"));
        assert!(!token.is("short"));
    }

    #[test]
    fn a_token_a_header_cant_carry_is_refused() {
        let now = SystemTime::now();
        let err = AccessToken::new("a\r\nb".into(), now, now, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
    }

    #[test]
    fn decode_unverified_refuses_what_is_not_a_jws() {
        for bad in ["opaque", "a.b", "a.b.c.d", "a.!!!.c", "a.bm90IGpzb24.c"] {
            assert!(
                decode_unverified::<serde_json::Value>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
