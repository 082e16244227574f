//! The route of the resource's metadata (RFC 9728).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::{self, Bytes};
use actix_web::{HttpResponse, Resource};
use jwtguard_core::resource_metadata::ResourceMetadata;

/// A resource that serves `metadata` at its path
/// ([`ResourceMetadata::path`]: `/.well-known/oauth-protected-resource`, with the resource's
/// path as suffix when it has one) to `GET` and `HEAD`, as `application/json` that clients may
/// keep for an hour. Register it outside [`JwtAuth`](crate::JwtAuth): clients read it before
/// they have a token. For a server of several resources, register one per resource.
///
/// ```
/// use actix_web::App;
/// use jwtguard_actix::resource_metadata_service;
/// use jwtguard_core::resource_metadata::ResourceMetadata;
///
/// let metadata = ResourceMetadata::new("https://api.example.com/mcp")?
///     .authorization_servers(["https://idp.example.com"]);
/// let app = App::new().service(resource_metadata_service(&metadata));
/// # Ok::<(), jwtguard_core::Error>(())
/// ```
pub fn resource_metadata_service(metadata: &ResourceMetadata) -> Resource {
    let body = Bytes::from(metadata.to_json());
    web::resource(metadata.path().to_owned()).route(web::get().to(move || {
        let body = body.clone();
        async move {
            HttpResponse::Ok()
                .insert_header((CONTENT_TYPE, "application/json"))
                .insert_header((
                    CACHE_CONTROL,
                    jwtguard_core::resource_metadata::CACHE_CONTROL,
                ))
                .body(body)
        }
    }))
}
