//! The JWT claims: the registered claims of a payload checked with strict types (a claim of
//! the wrong type is invalid, never "absent"), audiences, issuer templates for multi-tenant
//! IdPs, and the claim paths roles and scopes are read from.
//!
//! ```
//! use jwtguard_core::claims::{ClaimsPolicy, check_claims};
//! use jwtguard_core::ErrorKind;
//!
//! let policy = ClaimsPolicy::new(["https://idp.example"], ["api"]);
//! let claims = serde_json::json!({"iss": "https://idp.example", "aud": ["x", "api"], "exp": 2_000});
//! let registered = check_claims(claims.as_object().unwrap(), &policy, 1_000).unwrap();
//! assert_eq!(registered.exp, Some(2_000));
//!
//! let expired = check_claims(claims.as_object().unwrap(), &policy, 3_000).unwrap_err();
//! assert_eq!(expired.kind(), ErrorKind::Expired);
//! ```

mod audience;
mod issuer;
mod paths;
pub(crate) mod registered;
pub(crate) mod scan;

pub use audience::{Audience, AudienceIter};
pub use issuer::IssuerTemplate;
pub use paths::{AccessPaths, ClaimPath};
pub use registered::{ClaimsPolicy, MAX_NUMERIC_DATE, RegisteredClaims, check_claims};
