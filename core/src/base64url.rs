//! Canonical base64url without padding (RFC 7515 §2): padding, `+`, `/`, white space and
//! non-zero trailing bits are all refused, so one value has exactly one encoding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Decodes canonical unpadded base64url.
pub(crate) fn decode(input: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(input)
}

/// Decodes canonical unpadded base64url into `out`; `None` when it is not canonical or does
/// not fit.
pub(crate) fn decode_into(input: &str, out: &mut [u8]) -> Option<usize> {
    URL_SAFE_NO_PAD.decode_slice(input, out).ok()
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn only_the_canonical_form_decodes() {
        assert_eq!(decode("Zm9v").unwrap(), b"foo");
        assert_eq!(decode("Zm8").unwrap(), b"fo");
        assert!(decode("Zm8=").is_err(), "padding");
        assert!(decode("Zm9").is_err(), "non-zero trailing bits");
        assert!(decode("a+b/").is_err(), "standard alphabet");
        assert!(decode("Zm 9v").is_err(), "white space");
    }
}
