//! OpenID Connect discovery, with the RFC 8414 authorization-server metadata as fallback.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, ErrorKind};
use crate::http::Fetcher;

/// The parts of the provider metadata jwtguard uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// `issuer`: must equal the configured issuer exactly.
    pub issuer: String,
    /// `jwks_uri`: where the keys are.
    pub jwks_uri: String,
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
    fetcher.check_url(&jwks_uri, "jwks_uri")?;
    Ok((metadata, jwks_uri))
}

/// [`discover`], keeping the document in the key cache so that an instance can start while
/// the IdP is down, from a document another instance (or an earlier run) fetched.
pub(crate) async fn discover_with_cache(
    fetcher: &Fetcher,
    cache: &dyn crate::cache::KeyCache,
    issuer: &str,
    keep_for: std::time::Duration,
) -> Result<Url, Error> {
    let key = format!("jwtguard:discovery:{issuer}");
    match discover(fetcher, issuer).await {
        Ok((metadata, jwks_uri)) => {
            if let Ok(document) = serde_json::to_string(&metadata) {
                let entry = crate::cache::CachedJwks {
                    document,
                    fetched_at_ms: 0,
                    max_age_secs: 0,
                    etag: None,
                };
                if let Err(err) = cache.put(&key, entry, keep_for).await {
                    tracing::warn!(error = %err, "storing the discovery document in the cache failed");
                }
            }
            Ok(jwks_uri)
        }
        Err(err) if err.kind() == ErrorKind::KeysUnavailable => {
            let cached =
                cache.get(&key).await.ok().flatten().and_then(|entry| {
                    serde_json::from_str::<ProviderMetadata>(&entry.document).ok()
                });
            let Some(metadata) = cached.filter(|m| m.issuer == issuer) else {
                return Err(err);
            };
            let jwks_uri = Url::parse(&metadata.jwks_uri)
                .map_err(|_| Error::new(ErrorKind::Fetch, "cached jwks_uri is not a valid URL"))?;
            fetcher.check_url(&jwks_uri, "jwks_uri")?;
            tracing::warn!(%issuer, error = %err, "discovery failed; using the cached document");
            Ok(jwks_uri)
        }
        Err(err) => Err(err),
    }
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
