//! The `htu` comparison (RFC 9449 §4.3): both URIs normalized per RFC 3986 §6.2, without query
//! and fragment.

use url::Url;

use crate::error::{Error, ErrorKind};

/// `uri` normalized for the `htu` comparison (RFC 3986 §6.2.2 and §6.2.3), without its query
/// and fragment:
///
/// - scheme and host lower-cased, the default port dropped, an empty path made `/`;
/// - percent-encoded unreserved characters decoded, the hex digits of the others upper-cased;
/// - dot segments removed;
/// - the path's case kept, and its slashes never collapsed: `/a//b` stays `/a//b`.
///
/// Only `http` and `https` URIs with a host are accepted; anything else is
/// [`ErrorKind::InvalidDpopProof`].
///
/// ```
/// use jwtguard_core::dpop::normalize_htu;
///
/// assert_eq!(
///     normalize_htu("HTTPS://API.Example.COM:443/Orders/%7e1?page=2#top").unwrap(),
///     "https://api.example.com/Orders/~1"
/// );
/// assert_ne!(normalize_htu("https://a.example/x//y").unwrap(), "https://a.example/x/y");
/// ```
pub fn normalize_htu(uri: &str) -> Result<String, Error> {
    let invalid = || Error::new(ErrorKind::InvalidDpopProof, "htu is not an http(s) URI");
    let url = Url::parse(uri).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() || url.cannot_be_a_base() {
        return Err(invalid());
    }
    let mut normalized = String::with_capacity(uri.len());
    normalized.push_str(url.scheme());
    normalized.push_str("://");
    normalized.push_str(url.host_str().ok_or_else(invalid)?);
    if let Some(port) = url.port() {
        normalized.push(':');
        normalized.push_str(&port.to_string());
    }
    normalize_percent_encoding(url.path(), &mut normalized);
    Ok(normalized)
}

/// Appends `path` with each `%XX` of an unreserved character decoded and the others'
/// hex digits upper-cased (RFC 3986 §6.2.2.1 and §6.2.2.2).
pub(super) fn normalize_percent_encoding(path: &str, out: &mut String) {
    let bytes = path.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%'
            && index + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[index + 1]), hex(bytes[index + 2]))
        {
            let decoded = high << 4 | low;
            if decoded.is_ascii_alphanumeric() || matches!(decoded, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(decoded));
            } else {
                out.push('%');
                out.push(char::from(bytes[index + 1].to_ascii_uppercase()));
                out.push(char::from(bytes[index + 2].to_ascii_uppercase()));
            }
            index += 3;
            continue;
        }
        out.push(char::from(byte));
        index += 1;
    }
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) -> bool {
        normalize_htu(a).unwrap() == normalize_htu(b).unwrap()
    }

    #[test]
    fn equivalent_uris_compare_equal() {
        assert!(same(
            "https://api.example.com/me",
            "HTTPS://API.EXAMPLE.COM/me"
        ));
        assert!(same(
            "https://api.example.com:443/me",
            "https://api.example.com/me"
        ));
        assert!(same(
            "http://api.example.com:80/me",
            "http://api.example.com/me"
        ));
        assert!(same("https://api.example.com", "https://api.example.com/"));
        assert!(same("https://a.example/%7Euser", "https://a.example/~user"));
        assert!(same("https://a.example/%7euser", "https://a.example/~user"));
        assert!(same("https://a.example/a%2fb", "https://a.example/a%2Fb"));
        assert!(same("https://a.example/me?x=1#f", "https://a.example/me"));
        assert!(same(
            "https://a.example/a/./b/../c",
            "https://a.example/a/c"
        ));
    }

    #[test]
    fn different_uris_stay_different() {
        assert!(!same("https://a.example/me", "https://a.example/Me"));
        assert!(!same("https://a.example/a//b", "https://a.example/a/b"));
        assert!(!same("https://a.example//me", "https://a.example/me"));
        assert!(!same("https://a.example/a%2Fb", "https://a.example/a/b"));
        assert!(!same("https://a.example:8443/me", "https://a.example/me"));
        assert!(!same("http://a.example/me", "https://a.example/me"));
        assert!(!same("https://b.example/me", "https://a.example/me"));
    }

    #[test]
    fn only_http_uris_with_a_host() {
        for bad in [
            "",
            "/me",
            "mailto:a@b",
            "ftp://a.example/",
            "https://",
            "data:text/plain,x",
        ] {
            assert_eq!(
                normalize_htu(bad).unwrap_err().kind(),
                ErrorKind::InvalidDpopProof,
                "{bad:?}"
            );
        }
    }
}
