//! Server nonces for DPoP proofs (RFC 9449 §8): stateless, so that every instance that shares
//! the secret accepts the nonces of the others.

use std::fmt;
use std::time::Duration;

use aws_lc_rs::{constant_time, hmac};

use crate::error::{Error, ErrorKind};
use crate::jose::base64url;

/// Makes and checks DPoP nonces: `base64url(period ‖ HMAC-SHA256(secret, period)[..16])`, where
/// `period` is the Unix time divided by the lifetime. A nonce is accepted during its period and
/// the next, so it lives between one and two lifetimes. Instances that share the secret share
/// the nonces; nothing is stored.
///
/// ```
/// use std::time::Duration;
/// use jwtguard_core::dpop::NonceSource;
///
/// let nonces = NonceSource::new(&[7u8; 32], Duration::from_secs(60)).unwrap();
/// let nonce = nonces.current(1_700_000_000);
/// assert!(nonces.accepts(&nonce, 1_700_000_030));
/// assert!(!nonces.accepts(&nonce, 1_700_000_300));
/// assert!(!nonces.accepts("made-up", 1_700_000_000));
/// ```
#[derive(Clone)]
pub struct NonceSource {
    key: hmac::Key,
    lifetime: u64,
}

/// The length of the MAC kept in a nonce, in bytes.
const MAC_LEN: usize = 16;

impl NonceSource {
    /// Nonces keyed by `secret` (at least 32 bytes), each period `lifetime` long (at least
    /// 1 s). A shorter secret or lifetime is a [`ErrorKind::Config`] error.
    pub fn new(secret: &[u8], lifetime: Duration) -> Result<Self, Error> {
        if secret.len() < 32 {
            return Err(Error::new(
                ErrorKind::Config,
                "a DPoP nonce secret needs at least 32 bytes",
            ));
        }
        if lifetime.as_secs() == 0 {
            return Err(Error::new(
                ErrorKind::Config,
                "a DPoP nonce lifetime is at least one second",
            ));
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            lifetime: lifetime.as_secs(),
        })
    }

    /// Nonces keyed by 32 random bytes: for one instance, or a fleet behind sticky sessions.
    pub fn random(lifetime: Duration) -> Result<Self, Error> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret)
            .map_err(|_| Error::new(ErrorKind::Config, "no randomness for a DPoP nonce secret"))?;
        Self::new(&secret, lifetime)
    }

    /// The nonce to hand out at `now` (Unix seconds).
    pub fn current(&self, now: u64) -> String {
        self.nonce(now / self.lifetime)
    }

    /// Whether `nonce` is one of this source's, of the current period or the one before.
    pub fn accepts(&self, nonce: &str, now: u64) -> bool {
        let period = now / self.lifetime;
        [period, period.saturating_sub(1)].iter().any(|p| {
            constant_time::verify_slices_are_equal(self.nonce(*p).as_bytes(), nonce.as_bytes())
                .is_ok()
        })
    }

    fn nonce(&self, period: u64) -> String {
        let period = period.to_be_bytes();
        let tag = hmac::sign(&self.key, &period);
        let mut bytes = [0u8; 8 + MAC_LEN];
        bytes[..8].copy_from_slice(&period);
        bytes[8..].copy_from_slice(&tag.as_ref()[..MAC_LEN]);
        base64url::encode(&bytes)
    }
}

impl fmt::Debug for NonceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceSource")
            .field("lifetime_secs", &self.lifetime)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_live_one_to_two_periods_and_need_the_secret() {
        let nonces = NonceSource::new(&[1; 32], Duration::from_secs(60)).unwrap();
        let start = 6_000_000; // a period boundary
        let nonce = nonces.current(start);
        assert_eq!(nonce, nonces.current(start + 59));
        assert!(nonces.accepts(&nonce, start + 119));
        assert!(!nonces.accepts(&nonce, start + 120));
        let other = NonceSource::new(&[2; 32], Duration::from_secs(60)).unwrap();
        assert!(!other.accepts(&nonce, start));
        assert!(!format!("{nonces:?}").contains("key"));
    }

    #[test]
    fn weak_settings_are_refused() {
        assert!(NonceSource::new(&[1; 16], Duration::from_secs(60)).is_err());
        assert!(NonceSource::new(&[1; 32], Duration::from_millis(500)).is_err());
    }
}
