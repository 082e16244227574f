//! Attaching tokens to outgoing requests: a `reqwest-middleware` middleware
//! ([`BearerMiddleware`]) and a tower layer for hyper and tonic clients ([`BearerLayer`]).
//! Both attach the token only to the origins they are given: a token never goes elsewhere.

mod layer;
mod middleware;

pub use layer::{BearerLayer, BearerService, BoxError};
pub use middleware::BearerMiddleware;

use jwtguard_core::provider::is_loopback;
use url::Url;

use crate::error::{Error, ErrorKind};

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
