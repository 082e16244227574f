//! Reading the token out of a request, for every adapter alike: the `Authorization: Bearer`
//! header (RFC 6750 §2.1) by default, or a cookie, another header, or a function.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;

use crate::error::{Error, ErrorKind};

/// What the token locations see of a request: its headers, and its query string. Adapters
/// make one with [`HeaderLookup`] over their own header map.
pub trait RequestView {
    /// The values of every header with this name (matched case-insensitively), in order.
    fn header_values(&self, name: &str) -> Vec<&[u8]>;

    /// The first two values of the header `name`, in order: enough to tell none, one and
    /// several apart for a header that may come once (`Authorization`, `DPoP`), read on every
    /// request. A `None` first means no value, whatever follows it. Default: from [`header_values`](Self::header_values); implement it to read
    /// them without a `Vec`, as [`HeaderLookup`] does.
    fn first_two_header_values(&self, name: &str) -> [Option<&[u8]>; 2] {
        let mut values = self.header_values(name).into_iter();
        [values.next(), values.next()]
    }

    /// The query string, without the `?`; `None` when the target has none. Read only by
    /// locations that opt in to the query string ([`ApiKeyLocation::Query`]). Default `None`.
    ///
    /// [`ApiKeyLocation::Query`]: crate::request::ApiKeyLocation::Query
    fn query(&self) -> Option<&str> {
        None
    }

    /// The request's method (`GET`), for a DPoP proof's `htm`. Default `None`.
    fn method(&self) -> Option<&str> {
        None
    }

    /// The request's path as this server received it (`/orders/7`, without the query), for a
    /// DPoP proof's `htu`. Default `None`.
    fn path(&self) -> Option<&str> {
        None
    }

    /// The address of the peer that sent the request (a proxy's, behind one), to know when
    /// forwarded headers may be trusted. Default `None`.
    fn peer(&self) -> Option<IpAddr> {
        None
    }
}

/// The address of the peer that sent a request, as a request extension: what the axum
/// adapter reads for [`RequestView::peer`] (insert it from axum's `ConnectInfo`; actix-web
/// knows the peer itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// A [`RequestView`] from a function that lists a header's values: how every adapter shows
/// its framework's header map to the core.
///
/// ```
/// use jwtguard_core::request::{HeaderLookup, find_token};
/// use jwtguard_core::TokenLocation;
///
/// let headers = [("authorization", "Bearer a.b.c")];
/// let view = HeaderLookup::new(|name: &str| {
///     headers
///         .iter()
///         .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
///         .map(|(_, v)| v.as_bytes())
///         .collect::<Vec<_>>()
/// });
/// assert_eq!(find_token(&[TokenLocation::Bearer], &view).unwrap(), "a.b.c");
/// ```
pub struct HeaderLookup<'h, F> {
    lookup: F,
    query: Option<&'h str>,
    target: Option<(&'h str, &'h str)>,
    peer: Option<IpAddr>,
    headers: PhantomData<&'h [u8]>,
}

impl<'h, F, I> HeaderLookup<'h, F>
where
    F: Fn(&str) -> I,
    I: IntoIterator<Item = &'h [u8]>,
{
    /// A view whose header values come from `lookup`: a `Vec`, or better an iterator over the
    /// framework's header map, so that a header read once per request costs no allocation.
    pub fn new(lookup: F) -> Self {
        Self {
            lookup,
            query: None,
            target: None,
            peer: None,
            headers: PhantomData,
        }
    }

    /// The view with this query string (without the `?`; `None` when the request has none).
    #[must_use]
    pub fn with_query(mut self, query: Option<&'h str>) -> Self {
        self.query = query;
        self
    }

    /// The view with this method and path.
    #[must_use]
    pub fn with_target(mut self, method: &'h str, path: &'h str) -> Self {
        self.target = Some((method, path));
        self
    }

    /// The view with this peer address.
    #[must_use]
    pub fn with_peer(mut self, peer: Option<IpAddr>) -> Self {
        self.peer = peer;
        self
    }
}

impl<'h, F, I> RequestView for HeaderLookup<'h, F>
where
    F: Fn(&str) -> I,
    I: IntoIterator<Item = &'h [u8]>,
{
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        (self.lookup)(name).into_iter().collect()
    }

    fn first_two_header_values(&self, name: &str) -> [Option<&[u8]>; 2] {
        let mut values = (self.lookup)(name).into_iter();
        [values.next(), values.next()]
    }

    fn query(&self) -> Option<&str> {
        self.query
    }

    fn method(&self) -> Option<&str> {
        self.target.map(|(method, _)| method)
    }

    fn path(&self) -> Option<&str> {
        self.target.map(|(_, path)| path)
    }

    fn peer(&self) -> Option<IpAddr> {
        self.peer
    }
}

/// A [`RequestView`] over a list of `(name, value)` header pairs and an optional query string:
/// for tests and benches, and for callers that hold a request's headers as pairs. Names are
/// matched case-insensitively.
///
/// ```
/// use jwtguard_core::request::{HeaderPairs, RequestView};
///
/// let headers = [("X-API-Key", "k-1"), ("Accept", "*/*")];
/// let view = HeaderPairs::new(&headers).with_query(Some("page=2"));
/// assert_eq!(view.header_values("x-api-key"), [b"k-1".as_slice()]);
/// assert_eq!(view.query(), Some("page=2"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HeaderPairs<'h> {
    headers: &'h [(&'h str, &'h str)],
    query: Option<&'h str>,
    target: Option<(&'h str, &'h str)>,
}

impl<'h> HeaderPairs<'h> {
    /// A view of these headers, without a query string.
    pub fn new(headers: &'h [(&'h str, &'h str)]) -> Self {
        Self {
            headers,
            query: None,
            target: None,
        }
    }

    /// The view with this query string (without the `?`).
    #[must_use]
    pub fn with_query(mut self, query: Option<&'h str>) -> Self {
        self.query = query;
        self
    }

    /// The view with this method and path.
    #[must_use]
    pub fn with_target(mut self, method: &'h str, path: &'h str) -> Self {
        self.target = Some((method, path));
        self
    }
}

impl HeaderPairs<'_> {
    fn values<'s, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s [u8]> + use<'s, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

impl RequestView for HeaderPairs<'_> {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.values(name).collect()
    }

    fn first_two_header_values(&self, name: &str) -> [Option<&[u8]>; 2] {
        let mut values = self.values(name);
        [values.next(), values.next()]
    }

    fn query(&self) -> Option<&str> {
        self.query
    }

    fn method(&self) -> Option<&str> {
        self.target.map(|(method, _)| method)
    }

    fn path(&self) -> Option<&str> {
        self.target.map(|(_, path)| path)
    }
}

/// A function that finds the token in a request.
pub type FindToken = Arc<dyn Fn(&dyn RequestView) -> Option<String> + Send + Sync>;

/// A place to find the token in.
#[derive(Clone)]
#[non_exhaustive]
pub enum TokenLocation {
    /// `Authorization: Bearer <token>`, the scheme matched case-insensitively. The default.
    Bearer,
    /// The cookie with this name. A request that names it twice is refused as
    /// `invalid_request`.
    Cookie(String),
    /// The header with this name, whose whole value is the token.
    Header(String),
    /// A function of the request.
    Custom(FindToken),
}

impl TokenLocation {
    /// A location given by a function of the request.
    pub fn custom<F>(find: F) -> Self
    where
        F: Fn(&dyn RequestView) -> Option<String> + Send + Sync + 'static,
    {
        Self::Custom(Arc::new(find))
    }

    fn find<'r>(&self, request: &'r dyn RequestView) -> Result<Option<Cow<'r, str>>, Error> {
        match self {
            Self::Bearer => match authorization_token(request, "bearer") {
                Ok(token) => Ok(Some(Cow::Borrowed(token))),
                Err(err) if err.is_missing_token() => Ok(None),
                Err(err) => Err(err),
            },
            Self::Cookie(name) => Ok(cookie(request, name)?.map(Cow::Borrowed)),
            Self::Header(name) => Ok(single_header(request, name, "token")?.map(Cow::Borrowed)),
            Self::Custom(find) => Ok(find(request).map(Cow::Owned)),
        }
    }
}

impl fmt::Debug for TokenLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer => f.write_str("Bearer"),
            Self::Cookie(name) => write!(f, "Cookie({name:?})"),
            Self::Header(name) => write!(f, "Header({name:?})"),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// The one value of the header `name`, as sent: `None` without one; the header sent twice is
/// [`ErrorKind::InvalidRequest`]. `what` names the header in the error.
pub(super) fn one_header_value<'r>(
    request: &'r dyn RequestView,
    name: &str,
    what: &str,
) -> Result<Option<&'r [u8]>, Error> {
    match request.first_two_header_values(name) {
        [None, _] => Ok(None),
        [Some(value), None] => Ok(Some(value)),
        [Some(_), Some(_)] => Err(Error::new(
            ErrorKind::InvalidRequest,
            format!("more than one {what} header"),
        )),
    }
}

/// The token of `Authorization: <scheme> <token>` in `request` ([`bearer_token`]'s rules).
pub(super) fn authorization_token<'r>(
    request: &'r dyn RequestView,
    scheme: &str,
) -> Result<&'r str, Error> {
    let values = request.first_two_header_values("authorization");
    scheme_token(values.into_iter().map_while(|value| value), scheme)
}

/// The value of the header `name`, trimmed: `None` without one; an empty or non-text value,
/// or the header sent twice, is [`ErrorKind::InvalidRequest`]. `what` names the credential in
/// the error.
pub(super) fn single_header<'r>(
    request: &'r dyn RequestView,
    name: &str,
    what: &str,
) -> Result<Option<&'r str>, Error> {
    let Some(value) = one_header_value(request, name, what)? else {
        return Ok(None);
    };
    std::str::from_utf8(value)
        .ok()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(Some)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidRequest,
                format!("the {what} header is empty or not text"),
            )
        })
}

/// Finds the one token of a request among `locations`.
///
/// No token anywhere is [`ErrorKind::MissingToken`]; a token in more than one place (RFC 6750
/// §2: a client must not use more than one method) is [`ErrorKind::InvalidRequest`].
pub fn find_token<'r>(
    locations: &[TokenLocation],
    request: &'r dyn RequestView,
) -> Result<Cow<'r, str>, Error> {
    let mut found = None;
    for location in locations {
        if let Some(token) = location.find(request)? {
            if found.is_some() {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    "the request carries a token in more than one place",
                ));
            }
            found = Some(token);
        }
    }
    found.ok_or_else(|| Error::new(ErrorKind::MissingToken, "no token in the request"))
}

/// The value of the cookie `name`. A cookie named twice (say, one tossed from a sibling
/// subdomain beside the real one) is [`ErrorKind::InvalidRequest`]: neither is taken.
fn cookie<'r>(request: &'r dyn RequestView, name: &str) -> Result<Option<&'r str>, Error> {
    let mut values = request
        .header_values("cookie")
        .into_iter()
        .filter_map(|value| std::str::from_utf8(value).ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'));
    let first = values.next();
    if values.next().is_some() {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            "the token cookie is named more than once",
        ));
    }
    Ok(first.filter(|value| !value.is_empty()))
}

/// Reads the token from the values of the request's `Authorization` headers.
///
/// - no header, or a header with another scheme: [`ErrorKind::MissingToken`];
/// - more than one `Authorization` header, an empty token, or characters outside the
///   `b64token` syntax: [`ErrorKind::InvalidRequest`].
///
/// The scheme is matched case-insensitively.
///
/// ```
/// use jwtguard_core::request::bearer_token;
///
/// assert_eq!(bearer_token([b"bEaReR abc.def.ghi".as_slice()]).unwrap(), "abc.def.ghi");
/// assert!(bearer_token(std::iter::empty::<&[u8]>()).unwrap_err().is_missing_token());
/// assert!(bearer_token([b"Bearer a b".as_slice()]).unwrap_err().is_invalid_request());
/// ```
pub fn bearer_token<'a, I>(authorization: I) -> Result<&'a str, Error>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    scheme_token(authorization, "bearer")
}

/// The token of `Authorization: <scheme> <token>` ([`bearer_token`]'s rules, for `scheme`).
/// The scheme is compared first, so that a header of another scheme costs a look at its
/// first word only; the token is then checked in one pass over its bytes.
fn scheme_token<'a, I>(authorization: I, scheme: &str) -> Result<&'a str, Error>
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
    let (named, token) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &[][..]),
    };
    if !named.eq_ignore_ascii_case(scheme.as_bytes()) {
        if std::str::from_utf8(value).is_err() {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                "Authorization is not ASCII",
            ));
        }
        return Err(Error::new(
            ErrorKind::MissingToken,
            "Authorization carries another scheme",
        ));
    }
    let start = token.iter().position(|&b| b != b' ').unwrap_or(token.len());
    let token = &token[start..];
    if !is_b64token(token) {
        let kind_of = if std::str::from_utf8(token).is_ok() {
            "the token is empty or has characters outside b64token"
        } else {
            "Authorization is not ASCII"
        };
        return Err(Error::new(ErrorKind::InvalidRequest, kind_of));
    }
    // Only b64token characters: ASCII, so always text.
    std::str::from_utf8(token)
        .map_err(|_| Error::new(ErrorKind::InvalidRequest, "Authorization is not ASCII"))
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    // No early exit and no table: the compiler checks many bytes at once.
    let outside = body
        .iter()
        .fold(0u8, |outside, &b| outside | u8::from(!is_b64token_char(b)));
    !body.is_empty() && outside == 0
}

/// A character of a `b64token` before its padding.
const fn is_b64token_char(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter
        | digit
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_scheme_is_missing_token_when_it_is_text_and_malformed_when_it_is_not() {
        let other = "Digest username=\"Jos\u{e9}\"";
        assert!(
            scheme_token([other.as_bytes()], "bearer")
                .unwrap_err()
                .is_missing_token()
        );
        let not_text: &[u8] = b"Digest \xff";
        assert!(
            scheme_token([not_text], "bearer")
                .unwrap_err()
                .is_invalid_request()
        );
        let non_ascii_token = "Bearer abc\u{e9}";
        assert!(
            scheme_token([non_ascii_token.as_bytes()], "bearer")
                .unwrap_err()
                .is_invalid_request()
        );
    }

    #[test]
    fn b64token_is_exactly_the_rfc_6750_grammar() {
        for byte in 0..=255u8 {
            let allowed = byte.is_ascii_alphanumeric() || b"-._~+/".contains(&byte);
            let token = [b'a', byte, b'b'];
            assert_eq!(is_b64token(&token), allowed, "byte {byte}");
        }
        assert!(is_b64token(b"abc=="));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token(b"a=b"));
        assert!(!is_b64token(b""));
    }

    fn find(
        locations: &[TokenLocation],
        headers: Vec<(&'static str, &'static str)>,
    ) -> Result<String, ErrorKind> {
        find_token(locations, &HeaderPairs::new(&headers))
            .map(Cow::into_owned)
            .map_err(|e| e.kind())
    }

    #[test]
    fn locations_and_their_conflicts() {
        let all = [
            TokenLocation::Bearer,
            TokenLocation::Cookie("access_token".into()),
            TokenLocation::Header("X-Token".into()),
        ];
        assert_eq!(
            find(&all, vec![("Authorization", "Bearer a.b.c")]),
            Ok("a.b.c".into())
        );
        assert_eq!(
            find(&all, vec![("Cookie", "theme=dark; access_token=c.d.e")]),
            Ok("c.d.e".into())
        );
        assert_eq!(find(&all, vec![("x-token", "f.g.h")]), Ok("f.g.h".into()));
        assert_eq!(find(&all, vec![]), Err(ErrorKind::MissingToken));
        assert_eq!(
            find(&all, vec![("Authorization", "Basic x")]),
            Err(ErrorKind::MissingToken)
        );
        assert_eq!(
            find(
                &all,
                vec![
                    ("Authorization", "Bearer a.b.c"),
                    ("Cookie", "access_token=c.d.e")
                ]
            ),
            Err(ErrorKind::InvalidRequest)
        );
        assert_eq!(
            find(&all, vec![("X-Token", "a"), ("X-Token", "b")]),
            Err(ErrorKind::InvalidRequest)
        );
        let custom = [TokenLocation::custom(|r| {
            r.header_values("x-forwarded-token")
                .first()
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })];
        assert_eq!(
            find(&custom, vec![("X-Forwarded-Token", "z.z.z")]),
            Ok("z.z.z".into())
        );
        assert_eq!(
            find(&[TokenLocation::Bearer], vec![("Cookie", "access_token=x")]),
            Err(ErrorKind::MissingToken)
        );
    }

    #[test]
    fn a_cookie_named_twice_is_an_invalid_request() {
        let cookie = [TokenLocation::Cookie("access_token".into())];
        // A cookie tossed from a sibling subdomain must not silently win.
        assert_eq!(
            find(
                &cookie,
                vec![("Cookie", "access_token=a.b.c; access_token=d.e.f")]
            ),
            Err(ErrorKind::InvalidRequest)
        );
        assert_eq!(
            find(
                &cookie,
                vec![
                    ("Cookie", "access_token=a.b.c"),
                    ("Cookie", "access_token=d.e.f")
                ]
            ),
            Err(ErrorKind::InvalidRequest)
        );
        assert_eq!(
            find(&cookie, vec![("Cookie", "access_token=a.b.c; other=x")]),
            Ok("a.b.c".into())
        );
    }

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
