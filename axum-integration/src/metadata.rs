//! The route of the resource's metadata (RFC 9728).

use axum::Router;
use axum::body::Bytes;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::routing::get;
use jwtguard_core::resource_metadata::ResourceMetadata;

/// A router that serves `metadata` at its path
/// ([`ResourceMetadata::path`]: `/.well-known/oauth-protected-resource`, with the resource's
/// path as suffix when it has one) to `GET` and `HEAD`, as `application/json` that clients may
/// keep for an hour. Merge it outside [`JwtLayer`](crate::JwtLayer): clients read it before
/// they have a token. For a server of several resources, merge one per resource.
///
/// ```
/// use axum::Router;
/// use jwtguard_axum::resource_metadata_router;
/// use jwtguard_core::resource_metadata::ResourceMetadata;
///
/// let metadata = ResourceMetadata::new("https://api.example.com/mcp")?
///     .authorization_servers(["https://idp.example.com"]);
/// let app: Router = Router::new().merge(resource_metadata_router(&metadata));
/// # Ok::<(), jwtguard_core::Error>(())
/// ```
pub fn resource_metadata_router<S>(metadata: &ResourceMetadata) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let body = Bytes::from(metadata.to_json());
    Router::new().route(
        metadata.path(),
        get(move || {
            let body = body.clone();
            async move {
                (
                    [
                        (CONTENT_TYPE, "application/json"),
                        (
                            CACHE_CONTROL,
                            jwtguard_core::resource_metadata::CACHE_CONTROL,
                        ),
                    ],
                    body,
                )
            }
        }),
    )
}
