//! Reading the bearer token out of a request (RFC 6750 §2.1), for every adapter alike.

use crate::error::{Error, ErrorKind};

/// Reads the token from the values of the request's `Authorization` headers.
///
/// - no header, or a header with another scheme: [`ErrorKind::MissingToken`];
/// - more than one `Authorization` header, an empty token, or characters outside the
///   `b64token` syntax: [`ErrorKind::InvalidRequest`].
///
/// The scheme is matched case-insensitively.
///
/// ```
/// use jwtguard_core::extract::bearer_token;
///
/// assert_eq!(bearer_token([b"bEaReR abc.def.ghi".as_slice()]).unwrap(), "abc.def.ghi");
/// assert!(bearer_token(std::iter::empty::<&[u8]>()).unwrap_err().is_missing_token());
/// assert!(bearer_token([b"Bearer a b".as_slice()]).unwrap_err().is_invalid_request());
/// ```
pub fn bearer_token<'a, I>(authorization: I) -> Result<&'a str, Error>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut values = authorization.into_iter();
    let Some(value) = values.next() else {
        return Err(Error::new(
            ErrorKind::MissingToken,
            "no Authorization header",
        ));
    };
    if values.next().is_some() {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            "more than one Authorization header",
        ));
    }
    let value = std::str::from_utf8(value)
        .map_err(|_| Error::new(ErrorKind::InvalidRequest, "Authorization is not ASCII"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::new(
            ErrorKind::MissingToken,
            "Authorization carries another scheme",
        ));
    }
    let token = token.trim_start_matches(' ');
    if token.is_empty() || !is_b64token(token) {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            "the bearer token is empty or has characters outside b64token",
        ));
    }
    Ok(token)
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Result<&str, Error> {
        bearer_token([value.as_bytes()])
    }

    #[test]
    fn schemes_and_syntax() {
        assert_eq!(one("Bearer a.b.c").unwrap(), "a.b.c");
        assert_eq!(one("BEARER  a.b.c").unwrap(), "a.b.c");
        assert!(one("Basic dXNlcjpwYXNz").unwrap_err().is_missing_token());
        assert!(one("Bearer").unwrap_err().is_invalid_request());
        assert!(one("Bearer ").unwrap_err().is_invalid_request());
        assert!(
            one("Bearer a.b.c trailing")
                .unwrap_err()
                .is_invalid_request()
        );
        assert!(one("Bearer a\"b").unwrap_err().is_invalid_request());
        assert!(one("Bearer ===").unwrap_err().is_invalid_request());
    }

    #[test]
    fn two_headers_are_an_invalid_request() {
        let err = bearer_token([b"Bearer a".as_slice(), b"Bearer b".as_slice()]).unwrap_err();
        assert!(err.is_invalid_request());
    }
}
