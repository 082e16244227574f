//! OpenID Connect discovery, with the RFC 8414 authorization-server metadata as fallback.

use serde::{Deserialize, Serialize};
use url::Url;

use super::http::Fetcher;
use crate::error::{Error, ErrorKind};

/// The parts of the provider metadata jwtguard uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProviderMetadata {
    /// `issuer`: must equal the configured issuer exactly.
    pub(crate) issuer: String,
    /// `jwks_uri`: where the keys are.
    pub(crate) jwks_uri: String,
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
    let issuer_url = Url::parse(issuer)
        .map_err(|_| Error::new(ErrorKind::Config, "the issuer is not a valid URL"))?;
    fetcher.check_url(&issuer_url, "issuer")?;
    let [oidc, rfc8414] = metadata_urls(&issuer_url)?;
    let mut fetched = fetcher.get(&oidc, None).await?;
    if fetched.status == 404 {
        tracing::debug!(%issuer, "no OpenID configuration; trying RFC 8414 metadata");
        fetched = fetcher.get(&rfc8414, None).await?;
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
    let jwks_uri = checked_jwks_uri(fetcher, &metadata, &issuer_url, issuer)?;
    Ok((metadata, jwks_uri))
}

/// The `jwks_uri` of `metadata`, once the document is known to be the one of `issuer` (its
/// `issuer` member is the configured one exactly) and the URL passes the policy for URLs a
/// document names ([`Fetcher::check_discovered`]).
pub(crate) fn checked_jwks_uri(
    fetcher: &Fetcher,
    metadata: &ProviderMetadata,
    issuer_url: &Url,
    issuer: &str,
) -> Result<Url, Error> {
    if metadata.issuer != issuer {
        return Err(Error::new(
            ErrorKind::Fetch,
            format!(
                "the discovery document names issuer {:?}, not the configured {issuer:?}",
                metadata.issuer
            ),
        ));
    }
    let jwks_uri = Url::parse(&metadata.jwks_uri)
        .map_err(|_| Error::new(ErrorKind::Fetch, "jwks_uri is not a valid URL"))?;
    fetcher.check_discovered(&jwks_uri, issuer_url, "jwks_uri")?;
    Ok(jwks_uri)
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
