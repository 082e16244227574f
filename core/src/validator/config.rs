//! The validator's configuration as the pipeline reads it, fixed when it is built. Every
//! default it starts from is stated in [`defaults`](crate::defaults).

use std::sync::Arc;

use crate::claims::AccessPaths;
use crate::claims::IssuerTemplate;
use crate::claims::registered::ClaimsPolicy;
use crate::clock::Clock;
use crate::error::Error;
use crate::future::BoxFuture;
use crate::jose::Algorithm;
use crate::jose::header_cache::HeaderCache;
use crate::keys::background::BackgroundRefresh;
use crate::keys::issuer_keys::IssuerKeys;

use super::token::VerifiedToken;
use super::token_cache::TokenCache;

pub(crate) type SyncCheck = Arc<dyn Fn(&VerifiedToken) -> Result<(), Error> + Send + Sync>;
pub(crate) type AsyncCheck =
    Arc<dyn Fn(VerifiedToken) -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

/// Which `typ` header values are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TypeCheck {
    /// `typ` absent, `JWT`, `at+jwt` or `application/at+jwt` (case-insensitive). The default.
    #[default]
    Lenient,
    /// RFC 9068 access tokens only: `at+jwt` or `application/at+jwt` (case-insensitive).
    AccessToken,
}

impl TypeCheck {
    pub(crate) fn accepts(self, typ: Option<&str>) -> bool {
        let is_at_jwt = |t: &str| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        };
        match (self, typ) {
            (Self::Lenient, None) => true,
            (Self::Lenient, Some(t)) => t.eq_ignore_ascii_case("JWT") || is_at_jwt(t),
            (Self::AccessToken, Some(t)) => is_at_jwt(t),
            (Self::AccessToken, None) => false,
        }
    }
}

/// The checks the pipeline runs, and how.
pub(crate) struct Config {
    pub(crate) policy: ClaimsPolicy,
    pub(crate) algorithms: Arc<[Algorithm]>,
    pub(crate) max_token_size: usize,
    pub(crate) type_check: TypeCheck,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) access: Arc<AccessPaths>,
    pub(crate) sync_checks: Vec<SyncCheck>,
    pub(crate) async_checks: Vec<AsyncCheck>,
    pub(crate) token_cache: Option<TokenCache>,
    pub(crate) headers: HeaderCache,
}

/// Which tokens an issuer entry serves.
pub(crate) enum IssuerMatch {
    Exact(String),
    Template(IssuerTemplate),
}

impl IssuerMatch {
    /// Whether a token with this `iss` belongs to the entry.
    pub(crate) fn matches(&self, iss: &str) -> bool {
        match self {
            Self::Exact(issuer) => issuer == iss,
            Self::Template(template) => template.tenant_of(iss).is_some(),
        }
    }

    /// The issuer, or the template, as configured.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Exact(issuer) => issuer,
            Self::Template(template) => template.as_str(),
        }
    }
}

/// One trusted issuer (or template) and its keys.
pub(crate) struct IssuerEntry {
    pub(crate) matcher: IssuerMatch,
    pub(crate) keys: Arc<IssuerKeys>,
}

/// Everything a validator holds, behind its `Arc`.
pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) issuers: Vec<IssuerEntry>,
    pub(crate) background: Option<BackgroundRefresh>,
}

#[cfg(test)]
mod tests {
    use super::TypeCheck;

    #[test]
    fn typ_policies() {
        for ok in [
            None,
            Some("JWT"),
            Some("jwt"),
            Some("at+jwt"),
            Some("application/AT+JWT"),
        ] {
            assert!(TypeCheck::Lenient.accepts(ok), "{ok:?}");
        }
        assert!(!TypeCheck::Lenient.accepts(Some("JOSE")));
        assert!(!TypeCheck::Lenient.accepts(Some("id_token+jwt")));
        assert!(TypeCheck::AccessToken.accepts(Some("at+jwt")));
        assert!(!TypeCheck::AccessToken.accepts(Some("JWT")));
        assert!(!TypeCheck::AccessToken.accepts(None));
    }
}
