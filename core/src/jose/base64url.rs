//! Canonical base64url without padding (RFC 7515 §2): padding, `+`, `/`, white space and
//! non-zero trailing bits are all refused, so one value has exactly one encoding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Decodes canonical unpadded base64url.
pub(crate) fn decode(input: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(input)
}

/// Decodes canonical unpadded base64url onto the end of `out`; `None` when it is not
/// canonical.
pub(crate) fn decode_append(input: &str, out: &mut Vec<u8>) -> Option<()> {
    use base64_simd::AppendBase64Decode as _;
    Vec::append_base64_decode(&base64_simd::URL_SAFE_NO_PAD, input.as_bytes(), out).ok()
}

/// `bytes` as base64url without padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An upper bound of the decoded length of `encoded_len` base64 characters.
pub(crate) fn decoded_len_bound(encoded_len: usize) -> usize {
    encoded_len / 4 * 3 + 3
}

/// The length of the unpadded encoding of `decoded_len` bytes.
pub(crate) fn encoded_len(decoded_len: usize) -> usize {
    decoded_len / 3 * 4 + (decoded_len % 3 * 4).div_ceil(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast decoder accepts exactly what the reference one does, whatever the last
    /// character (where the non-canonical trailing bits hide).
    #[test]
    fn both_decoders_agree_on_every_last_character() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.";
        for len in 1..40 {
            let encoded = URL_SAFE_NO_PAD
                .encode((0..len).map(|i: u8| i.wrapping_mul(37)).collect::<Vec<_>>());
            for &last in alphabet {
                let mut input = encoded.clone().into_bytes();
                *input.last_mut().unwrap() = last;
                let input = String::from_utf8(input).unwrap();
                let mut fast = Vec::new();
                let fast = decode_append(&input, &mut fast).map(|()| fast);
                assert_eq!(fast, decode(&input).ok(), "{input}");
            }
        }
    }

    #[test]
    fn lengths_bound_the_real_ones() {
        for len in 0..40 {
            let encoded = URL_SAFE_NO_PAD.encode(vec![7u8; len]);
            assert_eq!(encoded_len(len), encoded.len());
            assert!(decoded_len_bound(encoded.len()) >= len);
            let mut out = vec![1];
            decode_append(&encoded, &mut out).unwrap();
            assert_eq!(out.len(), len + 1);
        }
        for bad in ["Zm8=", "Zm9", "a+b/", "Zm 9v", "Z", "Zm9v\n"] {
            assert!(decode_append(bad, &mut Vec::new()).is_none(), "{bad:?}");
        }
    }

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
