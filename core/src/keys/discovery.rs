//! Discovery of an issuer's JWKS URL, with the metadata kept in the key cache so that an
//! instance can start while the IdP is down.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use url::Url;

use super::cache::{CLOCK_SKEW, CachedJwks, EntrySeal, KeyCache};
use crate::error::{Error, ErrorKind};
use crate::provider::discovery::{self, ProviderMetadata};
use crate::provider::http::Fetcher;

/// Discovers the JWKS URL of `issuer`, keeping the metadata in the key cache for `keep_for`:
/// when the IdP can't be reached, a document another instance (or an earlier run) fetched at
/// most `keep_for` ago lets this one start. `now` dates the document (a `fetched_at` from the
/// future counts as now).
pub(crate) async fn discover_through_cache(
    fetcher: &Fetcher,
    cache: &dyn KeyCache,
    seal: &EntrySeal,
    issuer: &str,
    keep_for: Duration,
    now: SystemTime,
) -> Result<Url, Error> {
    let now_ms = u64::try_from(
        now.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX);
    let keep_for_ms = u64::try_from(keep_for.as_millis()).unwrap_or(u64::MAX);
    let skew_ms = u64::try_from(CLOCK_SKEW.as_millis()).unwrap_or(u64::MAX);
    let key = format!("jwtguard:discovery:{issuer}");
    match discovery::discover(fetcher, issuer).await {
        Ok((metadata, jwks_uri)) => {
            if let Ok(document) = serde_json::to_string(&metadata) {
                let mut entry = CachedJwks {
                    document,
                    fetched_at_ms: now_ms,
                    max_age_secs: keep_for.as_secs(),
                    etag: None,
                    mac: None,
                };
                seal.seal(&key, &mut entry);
                if let Err(err) = cache.put(&key, entry, keep_for).await {
                    tracing::warn!(error = %err, "storing the discovery document in the cache failed");
                }
            }
            Ok(jwks_uri)
        }
        Err(err) if err.kind() == ErrorKind::KeysUnavailable => {
            let cached = cache
                .get(&key)
                .await
                .ok()
                .flatten()
                .filter(|entry| seal.holds(&key, entry))
                .filter(|entry| {
                    // Not from the future (beyond clock skew), and not older than `keep_for`.
                    entry.fetched_at_ms <= now_ms.saturating_add(skew_ms)
                        && entry.fetched_at_ms.min(now_ms).saturating_add(keep_for_ms) > now_ms
                })
                .and_then(|entry| serde_json::from_str::<ProviderMetadata>(&entry.document).ok());
            let Some(metadata) = cached.filter(|m| m.issuer == issuer) else {
                return Err(err);
            };
            let jwks_uri = discovery::checked_jwks_uri(fetcher, &metadata, issuer)?;
            tracing::warn!(%issuer, error = %err, "discovery failed; using the cached document");
            Ok(jwks_uri)
        }
        Err(err) => Err(err),
    }
}
