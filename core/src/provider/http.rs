//! The HTTP side: one shared client, URL policy, timeouts and body caps.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::redirect;
use secrecy::ExposeSecret;
use url::{Host, Url};

use super::client_auth::Authentication;
use crate::error::{Error, ErrorKind};

/// How jwtguard talks to the authorization server: one shared `reqwest` client (rustls,
/// same-origin redirects only), a timeout per request, a cap on every body, and the URL policy
/// (https, or plain http on loopback, or anywhere if the user opted in).
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    max_body: usize,
    allow_insecure_http: bool,
}

/// A fetched body, its status, and the headers that matter.
#[derive(Debug)]
pub struct Fetched {
    /// The HTTP status.
    pub status: u16,
    /// The body, at most the body cap.
    pub body: Vec<u8>,
    /// `ETag`.
    pub etag: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Retry-After`, as sent.
    pub retry_after: Option<String>,
    /// `DPoP-Nonce` (RFC 9449 §8), as sent.
    pub dpop_nonce: Option<String>,
}

impl Fetcher {
    /// A fetcher with `client` (or a default one), a `timeout` per request (connect
    /// included), a cap of `max_body` bytes on every body, and the URL policy.
    pub fn new(
        client: Option<reqwest::Client>,
        timeout: Duration,
        max_body: usize,
        allow_insecure_http: bool,
    ) -> Result<Self, Error> {
        let client = match client {
            Some(client) => client,
            None => default_client(timeout)?,
        };
        Ok(Self {
            client,
            timeout,
            max_body,
            allow_insecure_http,
        })
    }

    /// `https`, or `http` to a loopback host, or `http` anywhere if the user opted in.
    pub fn check_url(&self, url: &Url, what: &str) -> Result<(), Error> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_insecure_http || is_loopback(url) => Ok(()),
            "http" => Err(Error::new(
                ErrorKind::Config,
                format!(
                    "the {what} uses plain http on a non-loopback host; use https or opt in with allow_insecure_http"
                ),
            )),
            _ => Err(Error::new(
                ErrorKind::Config,
                format!("the {what} is not an http(s) URL"),
            )),
        }
    }

    /// A URL that a metadata document fetched from `from` names (a discovered `jwks_uri`):
    /// `https`, or, unless the user opted in with `allow_insecure_http`, plain `http` only when
    /// `from` itself is plain `http` on loopback and the URL is on loopback too. An `https`
    /// document never sends jwtguard to plain `http`, not even to loopback (a local service is
    /// no key server). Anything else is [`ErrorKind::Fetch`]: the document is not usable.
    pub fn check_discovered(&self, url: &Url, from: &Url, what: &str) -> Result<(), Error> {
        let plain_loopback = from.scheme() == "http" && is_loopback(from) && is_loopback(url);
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_insecure_http || plain_loopback => Ok(()),
            _ => Err(Error::new(
                ErrorKind::Fetch,
                format!("the metadata names a {what} that is not https"),
            )),
        }
    }

    /// GETs `url` (conditionally, with `If-None-Match`, when an `etag` is given), reading at
    /// most the body cap. Transport failures and 5xx answers are
    /// [`ErrorKind::KeysUnavailable`]; an oversized body is [`ErrorKind::Fetch`].
    pub async fn get(&self, url: &Url, etag: Option<&str>) -> Result<Fetched, Error> {
        let mut request = self
            .client
            .get(url.clone())
            .header("accept", "application/json")
            .timeout(self.timeout);
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        let response = request.send().await.map_err(|e| {
            Error::new(
                ErrorKind::KeysUnavailable,
                format!("GET {} failed{}", shown(url), describe(&e)),
            )
            .with_source(e.without_url())
        })?;
        let fetched = self.read(url, "GET", response).await?;
        if fetched.status >= 500 {
            return Err(Error::new(
                ErrorKind::KeysUnavailable,
                format!("GET {} answered {}", shown(url), fetched.status),
            ));
        }
        Ok(fetched)
    }

    /// POSTs the form `fields` to `url` (an endpoint of the authorization server), with the
    /// client authentication `auth`, reading at most the body cap. Every status comes back as
    /// it is, for the caller to read (RFC 6749 §5.2 errors are 400 and 401). Transport failures
    /// are [`ErrorKind::KeysUnavailable`] (the server can't be reached); an oversized body or a
    /// redirect away from https is [`ErrorKind::Fetch`]. Nothing secret reaches the errors.
    ///
    /// `headers` are added as they are (a `DPoP` proof, say).
    pub async fn post_form(
        &self,
        url: &Url,
        auth: &Authentication,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Result<Fetched, Error> {
        let body = {
            let mut body = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in fields {
                body.append_pair(name, value);
            }
            for (name, value) in &auth.form {
                body.append_pair(name, value.expose_secret());
            }
            body.finish()
        };
        let mut request = self
            .client
            .post(url.clone())
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .timeout(self.timeout);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(authorization) = &auth.authorization {
            let mut value = HeaderValue::from_str(authorization.expose_secret()).map_err(|_| {
                Error::new(
                    ErrorKind::Config,
                    "the client credentials can't be sent in a header",
                )
            })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let response = request.send().await.map_err(|e| {
            Error::new(
                ErrorKind::KeysUnavailable,
                format!("POST {} failed{}", shown(url), describe(&e)),
            )
            .with_source(e.without_url())
        })?;
        self.read(url, "POST", response).await
    }

    async fn read(
        &self,
        url: &Url,
        method: &str,
        mut response: reqwest::Response,
    ) -> Result<Fetched, Error> {
        let unavailable = |e: reqwest::Error| {
            Error::new(
                ErrorKind::KeysUnavailable,
                format!("{method} {} failed{}", shown(url), describe(&e)),
            )
            .with_source(e.without_url())
        };
        if url.scheme() == "https" && response.url().scheme() != "https" {
            return Err(Error::new(
                ErrorKind::Fetch,
                format!("{method} {} was redirected away from https", shown(url)),
            ));
        }
        if method == "POST" && response.url() != url {
            // The default client follows no redirect off its origin; a client the user gave
            // might. Either way, an answer from elsewhere is not the endpoint's.
            return Err(Error::new(
                ErrorKind::Fetch,
                format!(
                    "POST {} was redirected; endpoints are not followed",
                    shown(url)
                ),
            ));
        }
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header("etag");
        let cache_control = header("cache-control");
        let retry_after = header("retry-after");
        let dpop_nonce = header("dpop-nonce");
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body as u64)
        {
            return Err(self.too_large(url));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(self.too_large(url));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            body,
            etag,
            cache_control,
            retry_after,
            dpop_nonce,
        })
    }

    fn too_large(&self, url: &Url) -> Error {
        Error::new(
            ErrorKind::Fetch,
            format!(
                "{}: body over the cap of {} bytes",
                shown(url),
                self.max_body
            ),
        )
    }
}

/// `url` as errors and logs show it: no user info, no query, no fragment (any of them may
/// hold a secret).
pub fn shown(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}{}", url.scheme(), url.path()),
        None => format!("{}://{host}{}", url.scheme(), url.path()),
    }
}

fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        ": timed out"
    } else if e.is_connect() {
        ": could not connect"
    } else {
        ""
    }
}

fn default_client(timeout: Duration) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(redirect::Policy::custom(|attempt| {
            // Same host, same scheme and port: a redirect never downgrades https to http.
            let same_origin = attempt.previous().first().is_some_and(|first| {
                first.host_str() == attempt.url().host_str()
                    && first.scheme() == attempt.url().scheme()
                    && first.port_or_known_default() == attempt.url().port_or_known_default()
            });
            if attempt.previous().len() > 3 || !same_origin {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .user_agent(concat!("jwtguard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            Error::new(ErrorKind::Config, "could not build the HTTP client").with_source(e)
        })
}

/// Whether `url` names a loopback host (127.0.0.0/8, ::1, `localhost`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher(allow: bool) -> Fetcher {
        Fetcher::new(None, Duration::from_secs(1), 1024, allow).unwrap()
    }

    #[test]
    fn urls_are_shown_without_what_may_be_secret() {
        let url =
            Url::parse("https://svc:TOPSECRET@idp.example:8443/token?client_secret=Q#F").unwrap();
        assert_eq!(shown(&url), "https://idp.example:8443/token");
    }

    #[test]
    fn plain_http_only_on_loopback_unless_opted_in() {
        let strict = fetcher(false);
        for ok in [
            "https://idp.example",
            "http://127.0.0.1:8080",
            "http://[::1]/",
            "http://localhost",
        ] {
            assert!(
                strict.check_url(&Url::parse(ok).unwrap(), "issuer").is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://idp.example",
            "http://10.0.0.1",
            "ftp://idp.example",
            "file:///etc/passwd",
        ] {
            let err = strict
                .check_url(&Url::parse(bad).unwrap(), "issuer")
                .unwrap_err();
            assert!(err.is_config(), "{bad}");
        }
        assert!(
            fetcher(true)
                .check_url(&Url::parse("http://idp.example").unwrap(), "issuer")
                .is_ok()
        );
    }

    #[test]
    fn a_discovered_url_never_steps_down_from_https() {
        let url = |s: &str| Url::parse(s).unwrap();
        let strict = fetcher(false);
        let check =
            |from: &str, to: &str| strict.check_discovered(&url(to), &url(from), "jwks_uri");
        assert!(check("https://idp.example", "https://keys.example/jwks").is_ok());
        assert!(check("http://127.0.0.1:3000", "http://127.0.0.1:3000/jwks").is_ok());
        assert!(check("http://localhost:3000", "http://[::1]:3000/jwks").is_ok());
        for (from, to) in [
            ("https://idp.example", "http://127.0.0.1/jwks"),
            ("https://idp.example", "http://keys.example/jwks"),
            ("http://127.0.0.1:3000", "http://keys.example/jwks"),
            ("https://idp.example", "file:///etc/passwd"),
        ] {
            let err = check(from, to).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Fetch, "{from} -> {to}");
        }
        let relaxed = fetcher(true);
        assert!(
            relaxed
                .check_discovered(
                    &url("http://keys.example/jwks"),
                    &url("https://idp.example"),
                    "jwks_uri"
                )
                .is_ok()
        );
    }
}
