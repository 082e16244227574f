//! Test support for the cross-crate integration tests: a real OpenID provider (node
//! `oidc-provider`) and a real Redis server, each started on loopback for one test.

mod idp;
mod redis_server;

pub use idp::{
    CLIENTS, IDP_AUDIENCE, INTROSPECTION_CLIENT, Idp, JWT_CLIENT, OPAQUE_RESOURCE, POST_CLIENT,
    peek, serve,
};
pub use redis_server::RedisServer;
