//! Attaching tokens to outgoing requests: a `reqwest-middleware` middleware
//! ([`BearerMiddleware`]) and a tower layer for hyper and tonic clients ([`BearerLayer`]).
//! Both attach the token only to the origins they are given: a token never goes elsewhere.

mod layer;
mod middleware;

pub use layer::{BearerLayer, BearerService, BoxError};
pub use middleware::BearerMiddleware;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::header::WWW_AUTHENTICATE;
use http::{HeaderMap, HeaderValue};
use jwtguard_core::provider::is_loopback;
use url::Url;

use crate::error::{Error, ErrorKind};
use crate::managed::ManagedToken;
use crate::token::AccessToken;

/// The DPoP side of outgoing calls: a proof per request for a DPoP-bound token, and the last
/// `DPoP-Nonce` of each origin (the configured origins only, so a bounded map).
#[derive(Debug, Clone, Default)]
pub(crate) struct Proofs {
    nonces: Arc<Mutex<HashMap<String, String>>>,
}

impl Proofs {
    /// The `DPoP` header for a call with `access` to `url`: `None` for a bearer token.
    pub(crate) fn header(
        &self,
        token: &ManagedToken,
        access: &AccessToken,
        method: &str,
        url: &Url,
    ) -> Result<Option<HeaderValue>, Error> {
        if !access.is_dpop() {
            return Ok(None);
        }
        let Some(key) = token.dpop_key() else {
            return Err(Error::new(
                ErrorKind::Config,
                "a DPoP-bound token without its key",
            ));
        };
        let nonce = self
            .nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&url.origin().ascii_serialization())
            .cloned();
        let proof = key.proof(method, url, Some(access.expose()), nonce.as_deref())?;
        HeaderValue::try_from(proof)
            .map(Some)
            .map_err(|_| Error::new(ErrorKind::Config, "a DPoP proof a header can't carry"))
    }

    /// Keeps the `DPoP-Nonce` of an answer from `url`; answers whether the answer asks for
    /// one (401 `use_dpop_nonce`, RFC 9449 §9).
    pub(crate) fn keep_nonce(&self, url: &Url, status: u16, headers: &HeaderMap) -> bool {
        let Some(nonce) = headers
            .get("dpop-nonce")
            .and_then(|value| value.to_str().ok())
        else {
            return false;
        };
        self.nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(url.origin().ascii_serialization(), nonce.to_owned());
        status == 401
            && headers
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .any(|value| value.contains("use_dpop_nonce"))
    }
}

/// The origins (scheme, host, port) a token may be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origins(Vec<(String, String, u16)>);

impl Origins {
    /// Origins from URLs (`https://api.example.com`, a path is ignored). Plain `http` is
    /// refused unless the host is loopback: a bearer token in clear text is as good as leaked.
    pub(crate) fn parse<I, S>(urls: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut origins = Vec::new();
        for url in urls {
            let url = url.as_ref();
            let parsed = Url::parse(url).map_err(|_| {
                Error::new(
                    ErrorKind::Config,
                    format!("{url:?} is not a URL an origin can be taken from"),
                )
            })?;
            let Some(origin) = origin_of(&parsed) else {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("{url:?} names no http(s) origin"),
                ));
            };
            if origin.0 == "http" && !is_loopback(&parsed) {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("tokens are not sent over plain http to {url:?}; use https"),
                ));
            }
            origins.push(origin);
        }
        if origins.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "name at least one origin the token may be sent to",
            ));
        }
        Ok(Self(origins))
    }

    /// The first origin, as a URL (`https://host:port`).
    pub(crate) fn first(&self) -> Option<Url> {
        let (scheme, host, port) = self.0.first()?;
        Url::parse(&format!("{scheme}://{host}:{port}")).ok()
    }

    /// Whether a request to `url` may carry the token.
    pub(crate) fn allows(&self, url: &Url) -> bool {
        origin_of(url).is_some_and(|origin| self.0.contains(&origin))
    }

    /// Whether a request to `uri` may carry the token.
    pub(crate) fn allows_uri(&self, uri: &http::Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        let scheme = scheme.to_ascii_lowercase();
        let port = uri.port_u16().or(match scheme.as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        });
        let Some(port) = port else { return false };
        let host = host.to_ascii_lowercase();
        self.0
            .iter()
            .any(|(s, h, p)| *s == scheme && *p == port && *h == host)
    }
}

fn origin_of(url: &Url) -> Option<(String, String, u16)> {
    let scheme = url.scheme();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = match url.host()? {
        url::Host::Domain(name) => name.to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => format!("[{ip}]"),
    };
    Some((scheme.to_owned(), host, url.port_or_known_default()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_origins_get_the_token() {
        let origins =
            Origins::parse(["https://api.example.com/v1", "http://127.0.0.1:8080"]).unwrap();
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(origins.allows(&url("https://API.example.com/orders?x=1")));
        assert!(origins.allows(&url("https://api.example.com:443/")));
        assert!(origins.allows(&url("http://127.0.0.1:8080/x")));
        for other in [
            "http://api.example.com/",
            "https://api.example.com:8443/",
            "https://api.example.com.evil.test/",
            "https://evil.test/?https://api.example.com",
            "http://127.0.0.1:8081/",
        ] {
            assert!(!origins.allows(&url(other)), "{other}");
        }
        let uri = |s: &str| s.parse::<http::Uri>().unwrap();
        assert!(origins.allows_uri(&uri("https://api.example.com/x")));
        assert!(origins.allows_uri(&uri("http://127.0.0.1:8080/pkg.Svc/Method")));
        assert!(!origins.allows_uri(&uri("/relative")));
        assert!(!origins.allows_uri(&uri("https://other.example/")));
    }

    #[test]
    fn plain_http_to_a_remote_host_and_no_origin_are_refused() {
        assert!(Origins::parse(["http://api.example.com"]).is_err());
        assert!(Origins::parse(Vec::<String>::new()).is_err());
        assert!(Origins::parse(["not a url"]).is_err());
        assert!(Origins::parse(["ftp://files.example"]).is_err());
    }
}
