//! OpenID Connect discovery, with the RFC 8414 authorization-server metadata as fallback.

use serde::{Deserialize, Serialize};
use url::Url;

use super::http::Fetcher;
use crate::error::{Error, ErrorKind};

/// The parts of an authorization server's metadata (OpenID Connect discovery or RFC 8414)
/// jwtguard uses. Read it with [`discover_metadata`]; every URL in it is checked by
/// [`ProviderMetadata::endpoint`] before use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// `issuer`: must equal the configured issuer exactly.
    pub(crate) issuer: String,
    /// `jwks_uri`: where the keys are (required to validate tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) jwks_uri: Option<String>,
    /// `token_endpoint`: where clients get tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token_endpoint: Option<String>,
    /// `introspection_endpoint` (RFC 7662).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) introspection_endpoint: Option<String>,
}

/// An endpoint an authorization server's metadata may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `jwks_uri`.
    Jwks,
    /// `token_endpoint`.
    Token,
    /// `introspection_endpoint`.
    Introspection,
}

impl Endpoint {
    /// The member's name in the metadata.
    pub fn member(self) -> &'static str {
        match self {
            Endpoint::Jwks => "jwks_uri",
            Endpoint::Token => "token_endpoint",
            Endpoint::Introspection => "introspection_endpoint",
        }
    }
}

impl ProviderMetadata {
    /// The issuer identifier, as the document states it (equal to the one asked for).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The URL of `endpoint`, checked against the policy for URLs a document names
    /// ([`Fetcher::check_discovered`], against the issuer's URL). Absent or not usable is
    /// [`ErrorKind::Fetch`].
    pub fn endpoint(&self, fetcher: &Fetcher, endpoint: Endpoint) -> Result<Url, Error> {
        let member = endpoint.member();
        let named = match endpoint {
            Endpoint::Jwks => &self.jwks_uri,
            Endpoint::Token => &self.token_endpoint,
            Endpoint::Introspection => &self.introspection_endpoint,
        };
        let Some(named) = named else {
            return Err(Error::new(
                ErrorKind::Fetch,
                format!("the metadata of {} names no {member}", self.issuer),
            ));
        };
        let issuer_url = Url::parse(&self.issuer)
            .map_err(|_| Error::new(ErrorKind::Fetch, "the issuer is not a valid URL"))?;
        let url = Url::parse(named)
            .map_err(|_| Error::new(ErrorKind::Fetch, format!("{member} is not a valid URL")))?;
        fetcher.check_discovered(&url, &issuer_url, member)?;
        Ok(url)
    }
}

/// Where the metadata of `issuer` is published: the OpenID Connect location first, then the
/// RFC 8414 one (`/.well-known/oauth-authorization-server` inserted before the path).
pub(crate) fn metadata_urls(issuer: &Url) -> Result<[Url; 2], Error> {
    let bad = |_| Error::new(ErrorKind::Config, "the issuer is not a valid base URL");
    let trimmed = issuer.as_str().trim_end_matches('/');
    let oidc = Url::parse(&format!("{trimmed}/.well-known/openid-configuration")).map_err(bad)?;
    let path = issuer.path().trim_end_matches('/');
    let mut rfc8414 = issuer.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    Ok([oidc, rfc8414])
}

/// Fetches and checks the metadata of `issuer`; returns it with the checked `jwks_uri`.
pub(crate) async fn discover(
    fetcher: &Fetcher,
    issuer: &str,
) -> Result<(ProviderMetadata, Url), Error> {
    let metadata = discover_metadata(fetcher, issuer).await?;
    let jwks_uri = checked_jwks_uri(fetcher, &metadata, issuer)?;
    Ok((metadata, jwks_uri))
}

/// Fetches the metadata of `issuer` (OpenID Connect discovery first, then RFC 8414) and
/// checks that it is the metadata of `issuer`: its `issuer` member equals it exactly. Its
/// endpoints are checked when read ([`ProviderMetadata::endpoint`]). An unreachable server is
/// [`ErrorKind::KeysUnavailable`]; a document that is not usable is [`ErrorKind::Fetch`].
pub async fn discover_metadata(fetcher: &Fetcher, issuer: &str) -> Result<ProviderMetadata, Error> {
    discover_metadata_at(fetcher, issuer)
        .await
        .map(|(metadata, _)| metadata)
}

/// As [`discover_metadata`], and where the metadata was found: the OpenID Connect location, or
/// the RFC 8414 one when the first answered 404.
pub(crate) async fn discover_metadata_at(
    fetcher: &Fetcher,
    issuer: &str,
) -> Result<(ProviderMetadata, Url), Error> {
    let issuer_url = Url::parse(issuer)
        .map_err(|_| Error::new(ErrorKind::Config, "the issuer is not a valid URL"))?;
    fetcher.check_url(&issuer_url, "issuer")?;
    let [oidc, rfc8414] = metadata_urls(&issuer_url)?;
    let mut at = oidc;
    let mut fetched = fetcher.get(&at, None).await?;
    if fetched.status == 404 {
        tracing::debug!(%issuer, "no OpenID configuration; trying RFC 8414 metadata");
        at = rfc8414;
        fetched = fetcher.get(&at, None).await?;
    }
    if !(200..300).contains(&fetched.status) {
        return Err(Error::new(
            ErrorKind::Fetch,
            format!("discovery for {issuer} answered {}", fetched.status),
        ));
    }
    let metadata: ProviderMetadata = serde_json::from_slice(&fetched.body).map_err(|e| {
        Error::new(
            ErrorKind::Fetch,
            format!("the discovery document of {issuer} is not usable"),
        )
        .with_source(e)
    })?;
    check_issuer(&metadata, issuer)?;
    Ok((metadata, at))
}

fn check_issuer(metadata: &ProviderMetadata, issuer: &str) -> Result<(), Error> {
    if metadata.issuer != issuer {
        return Err(Error::new(
            ErrorKind::Fetch,
            format!(
                "the discovery document names issuer {:?}, not the configured {issuer:?}",
                metadata.issuer
            ),
        ));
    }
    Ok(())
}

/// The `jwks_uri` of `metadata`, once the document is known to be the one of `issuer` (its
/// `issuer` member is the configured one exactly) and the URL passes the policy for URLs a
/// document names ([`Fetcher::check_discovered`]).
pub(crate) fn checked_jwks_uri(
    fetcher: &Fetcher,
    metadata: &ProviderMetadata,
    issuer: &str,
) -> Result<Url, Error> {
    check_issuer(metadata, issuer)?;
    metadata.endpoint(fetcher, Endpoint::Jwks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_locations() {
        let [oidc, rfc] =
            metadata_urls(&Url::parse("https://idp.example/tenant/").unwrap()).unwrap();
        assert_eq!(
            oidc.as_str(),
            "https://idp.example/tenant/.well-known/openid-configuration"
        );
        assert_eq!(
            rfc.as_str(),
            "https://idp.example/.well-known/oauth-authorization-server/tenant"
        );
        let [oidc, rfc] = metadata_urls(&Url::parse("https://idp.example").unwrap()).unwrap();
        assert_eq!(
            oidc.as_str(),
            "https://idp.example/.well-known/openid-configuration"
        );
        assert_eq!(
            rfc.as_str(),
            "https://idp.example/.well-known/oauth-authorization-server"
        );
    }
}
