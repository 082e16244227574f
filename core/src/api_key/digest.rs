//! The SHA-256 digest an API key is stored and looked up by.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};

use crate::error::{Error, ErrorKind};

/// The SHA-256 digest of a whole API key string: what stores keep and are asked for, in place
/// of the key.
///
/// Its [`Debug`](fmt::Debug) output shows the first 8 hex characters only, enough to tell
/// entries apart in a log and too little to look a key up by.
///
/// ```
/// use jwtguard_core::api_key::KeyDigest;
///
/// let digest = KeyDigest::of("abc");
/// let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
/// assert_eq!(digest.to_hex(), hex);
/// assert_eq!(KeyDigest::from_hex(hex).unwrap(), digest);
/// assert_eq!(format!("{digest:?}"), "KeyDigest(ba7816bf…)");
/// assert!(KeyDigest::from_hex(&hex.to_uppercase()).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest([u8; 32]);

/// How many hex characters of a digest [`Debug`](fmt::Debug) and error messages show.
pub(crate) const SHOWN_HEX: usize = 8;

const HEX: &[u8; 16] = b"0123456789abcdef";

impl KeyDigest {
    /// The SHA-256 of the UTF-8 bytes of the whole `key`.
    pub fn of(key: &str) -> Self {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest(&SHA256, key.as_bytes()).as_ref());
        Self(bytes)
    }

    /// A digest from its 32 bytes (for stores that keep the raw bytes).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes of the digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A digest from its hex form: exactly 64 lower-case hex characters (`0-9`, `a-f`),
    /// nothing around them. Anything else is an [`ErrorKind::Config`] error, whose message
    /// never repeats the input.
    pub fn from_hex(hex: &str) -> Result<Self, Error> {
        let bad = || {
            Error::new(
                ErrorKind::Config,
                "a SHA-256 digest is 64 lower-case hex characters",
            )
        };
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let high = nibble(pair[0]).ok_or_else(bad)?;
            let low = nibble(pair[1]).ok_or_else(bad)?;
            *byte = (high << 4) | low;
        }
        Ok(Self(bytes))
    }

    /// The digest as 64 lower-case hex characters.
    pub fn to_hex(&self) -> String {
        let mut hex = String::with_capacity(64);
        for byte in self.0 {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        hex
    }

    /// The first [`SHOWN_HEX`] hex characters, followed by an ellipsis.
    pub(crate) fn short(&self) -> String {
        let mut hex = self.to_hex();
        hex.truncate(SHOWN_HEX);
        hex.push('…');
        hex
    }
}

/// The value of a lower-case hex digit.
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDigest({})", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hex_round_trips() {
        let digest = KeyDigest::of("");
        assert_eq!(digest.to_hex(), EMPTY);
        assert_eq!(KeyDigest::from_hex(EMPTY).unwrap(), digest);
        assert_eq!(KeyDigest::from_bytes(*digest.as_bytes()), digest);
    }

    #[test]
    fn from_hex_is_strict() {
        for bad in [
            "",
            &EMPTY[..63],
            &format!("{EMPTY}0"),
            &EMPTY.to_uppercase(),
            &format!(" {}", &EMPTY[1..]),
            &format!("{}g", &EMPTY[..63]),
            &format!("+{}", &EMPTY[1..]),
            &format!("{}é", &EMPTY[..62]),
        ] {
            let err = KeyDigest::from_hex(bad).unwrap_err();
            assert!(err.is_config(), "{bad:?}");
            assert!(!err.to_string().contains(&EMPTY[..10]), "{err}");
        }
    }

    #[test]
    fn debug_shows_a_short_prefix_only() {
        let key = "sk_live_0123456789abcdef";
        let digest = KeyDigest::of(key);
        let shown = format!("{digest:?}");
        assert_eq!(
            shown,
            format!("KeyDigest({}…)", &digest.to_hex()[..SHOWN_HEX])
        );
        assert!(!shown.contains(key));
        assert!(!shown.contains(&digest.to_hex()[..SHOWN_HEX + 1]));
    }
}
