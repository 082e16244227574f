//! Configuration from the environment, for twelve-factor deployments.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `JWT_AUTHORITY` (or `JWT_ISSUER`) | the issuer to trust (discovery at `{issuer}/.well-known/openid-configuration`) | required |
//! | `JWT_AUDIENCE` | accepted audiences, comma-separated | required |
//! | `JWT_JWKS_URL` | fetch keys from this URL instead of discovery | discovery |
//! | `JWT_ALGORITHMS` | allowed algorithms, comma-separated (`RS256,ES256`) | RS*, PS*, ES256, ES384, EdDSA |
//! | `JWT_LEEWAY_SECONDS` | clock skew tolerated on `exp`, `nbf`, `iat` | 60 |
//! | `JWKS_CACHE_TYPE` | `in_memory` or `redis` | `in_memory` |
//! | `REDIS_URL` | the Redis for `JWKS_CACHE_TYPE=redis` | required with `redis` |
//! | `JWKS_ENABLE_BACKGROUND_REFRESH` | `true` or `false`: refresh keys in a background task | `false` |
//! | `JWKS_REFRESH_INTERVAL_SECONDS` | the background task's interval | [`BACKGROUND_REFRESH_INTERVAL`](crate::defaults::BACKGROUND_REFRESH_INTERVAL) (300) |
//! | `JWT_TOKEN_CACHE` | `true` or `false`: keep validated tokens ([`TokenCacheConfig`]) | `false` |
//! | `JWT_TOKEN_CACHE_MAX_BYTES` | with the cache: at most this many bytes of tokens | [`TOKEN_CACHE_MAX_BYTES`](crate::defaults::TOKEN_CACHE_MAX_BYTES) (32 MiB) |
//! | `JWT_TOKEN_CACHE_MAX_TTL_SECONDS` | with the cache: no entry lives longer, whatever its `exp` | [`TOKEN_CACHE_MAX_TTL`](crate::defaults::TOKEN_CACHE_MAX_TTL) (300) |
//!
//! A bad value is a [`ErrorKind::Config`] error that names the variable.

use std::time::Duration;

use super::builder::ValidatorBuilder;
use super::pipeline::Validator;
use super::token_cache::TokenCacheConfig;
use crate::defaults;
use crate::error::{Error, ErrorKind};
use crate::jose::Algorithm;

fn bad(variable: &str, what: &str) -> Error {
    Error::new(ErrorKind::Config, format!("{variable}: {what}"))
}

impl ValidatorBuilder {
    /// A builder configured from the process environment (see [the table](super::env)).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// A builder configured from `lookup` (a variable name to its value), with the same
    /// variables as [`from_env`](Self::from_env).
    ///
    /// ```
    /// use jwtguard_core::ValidatorBuilder;
    ///
    /// let vars = [
    ///     ("JWT_ISSUER", "https://idp.example"),
    ///     ("JWT_AUDIENCE", "orders-api"),
    ///     ("JWT_LEEWAY_SECONDS", "soon"),
    /// ];
    /// let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    /// let err = ValidatorBuilder::from_vars(lookup).err().unwrap();
    /// assert!(err.to_string().contains("JWT_LEEWAY_SECONDS"));
    /// ```
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let issuer = var("JWT_AUTHORITY")
            .or_else(|| var("JWT_ISSUER"))
            .ok_or_else(|| {
                bad(
                    "JWT_AUTHORITY",
                    "required (or JWT_ISSUER): the issuer to trust",
                )
            })?;
        let audiences: Vec<String> = var("JWT_AUDIENCE")
            .ok_or_else(|| bad("JWT_AUDIENCE", "required: the audience this API accepts"))?
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        let mut builder = Validator::builder().issuer(issuer).audiences(audiences);
        if let Some(url) = var("JWT_JWKS_URL") {
            builder = builder.jwks_uri(url);
        }
        if let Some(list) = var("JWT_ALGORITHMS") {
            let algorithms = list
                .split(',')
                .map(|name| {
                    name.trim().parse::<Algorithm>().map_err(|_| {
                        bad(
                            "JWT_ALGORITHMS",
                            &format!("unknown algorithm {:?}", name.trim()),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            builder = builder.algorithms(algorithms);
        }
        if let Some(seconds) = var("JWT_LEEWAY_SECONDS") {
            let seconds = seconds
                .parse::<u64>()
                .map_err(|_| bad("JWT_LEEWAY_SECONDS", "not a whole number of seconds"))?;
            builder = builder.leeway(Duration::from_secs(seconds));
        }
        match var("JWKS_CACHE_TYPE").as_deref() {
            None | Some("in_memory") => {}
            Some("redis") => builder = redis_cache(builder, var("REDIS_URL"))?,
            Some(other) => {
                return Err(bad(
                    "JWKS_CACHE_TYPE",
                    &format!("{other:?} is neither in_memory nor redis"),
                ));
            }
        }
        let interval = match var("JWKS_REFRESH_INTERVAL_SECONDS") {
            None => defaults::BACKGROUND_REFRESH_INTERVAL,
            Some(seconds) => match seconds.parse::<u64>() {
                Ok(s) if s > 0 => Duration::from_secs(s),
                _ => {
                    return Err(bad(
                        "JWKS_REFRESH_INTERVAL_SECONDS",
                        "not a positive number of seconds",
                    ));
                }
            },
        };
        match var("JWKS_ENABLE_BACKGROUND_REFRESH").as_deref() {
            None | Some("false" | "0" | "no") => {}
            Some("true" | "1" | "yes") => builder = builder.background_refresh(interval),
            Some(other) => {
                return Err(bad(
                    "JWKS_ENABLE_BACKGROUND_REFRESH",
                    &format!("{other:?} is neither true nor false"),
                ));
            }
        }
        let mut cache = TokenCacheConfig::default();
        let mut cache_set = false;
        if let Some(bytes) = var("JWT_TOKEN_CACHE_MAX_BYTES") {
            cache.max_bytes = match bytes.parse::<u64>() {
                Ok(b) if b > 0 => b,
                _ => {
                    return Err(bad(
                        "JWT_TOKEN_CACHE_MAX_BYTES",
                        "not a positive number of bytes",
                    ));
                }
            };
            cache_set = true;
        }
        if let Some(seconds) = var("JWT_TOKEN_CACHE_MAX_TTL_SECONDS") {
            cache.max_ttl = match seconds.parse::<u64>() {
                Ok(s) if s > 0 => Duration::from_secs(s),
                _ => {
                    return Err(bad(
                        "JWT_TOKEN_CACHE_MAX_TTL_SECONDS",
                        "not a positive number of seconds",
                    ));
                }
            };
            cache_set = true;
        }
        match var("JWT_TOKEN_CACHE").as_deref() {
            None if cache_set => {
                return Err(bad(
                    "JWT_TOKEN_CACHE",
                    "the cache's settings are given but the cache is not on: set JWT_TOKEN_CACHE=true",
                ));
            }
            None | Some("false" | "0" | "no") => {}
            Some("true" | "1" | "yes") => builder = builder.token_cache(cache),
            Some(other) => {
                return Err(bad(
                    "JWT_TOKEN_CACHE",
                    &format!("{other:?} is neither true nor false"),
                ));
            }
        }
        Ok(builder)
    }
}

impl Validator {
    /// A validator configured from the process environment (see [the table](super::env)).
    pub async fn from_env() -> Result<Self, Error> {
        ValidatorBuilder::from_env()?.build().await
    }
}

#[cfg(feature = "redis")]
fn redis_cache(builder: ValidatorBuilder, url: Option<String>) -> Result<ValidatorBuilder, Error> {
    let url = url.ok_or_else(|| bad("REDIS_URL", "required when JWKS_CACHE_TYPE=redis"))?;
    let cache =
        crate::keys::RedisKeyCache::new(&url).map_err(|e| bad("REDIS_URL", &e.to_string()))?;
    Ok(builder.key_cache(cache))
}

#[cfg(not(feature = "redis"))]
fn redis_cache(_: ValidatorBuilder, _: Option<String>) -> Result<ValidatorBuilder, Error> {
    Err(bad(
        "JWKS_CACHE_TYPE",
        "redis needs jwtguard's `redis` feature, which this build does not have",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<ValidatorBuilder, Error> {
        ValidatorBuilder::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn error_of(vars: &[(&str, &str)]) -> String {
        match from(vars) {
            Ok(_) => panic!("expected an error for {vars:?}"),
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::Config);
                err.to_string()
            }
        }
    }

    const BASE: [(&str, &str); 2] = [
        ("JWT_ISSUER", "https://idp"),
        ("JWT_AUDIENCE", "api, other"),
    ];

    fn with<'a>(extra: (&'a str, &'a str)) -> Vec<(&'a str, &'a str)> {
        let mut vars = BASE.to_vec();
        vars.push(extra);
        vars
    }

    #[test]
    fn the_token_cache_is_opt_in_and_its_settings_need_it() {
        assert!(from(&BASE).unwrap().token_cache.is_none());
        let on = from(&with(("JWT_TOKEN_CACHE", "true"))).unwrap();
        let config = on.token_cache.expect("the cache is on");
        assert_eq!(config.max_bytes, defaults::TOKEN_CACHE_MAX_BYTES);
        let mut vars = with(("JWT_TOKEN_CACHE", "1"));
        vars.push(("JWT_TOKEN_CACHE_MAX_BYTES", "1048576"));
        vars.push(("JWT_TOKEN_CACHE_MAX_TTL_SECONDS", "60"));
        let config = from(&vars).unwrap().token_cache.expect("on");
        assert_eq!(
            (config.max_bytes, config.max_ttl),
            (1_048_576, Duration::from_secs(60))
        );
        assert!(error_of(&with(("JWT_TOKEN_CACHE_MAX_BYTES", "1024"))).contains("JWT_TOKEN_CACHE"));
        let mut zero = with(("JWT_TOKEN_CACHE", "true"));
        zero.push(("JWT_TOKEN_CACHE_MAX_TTL_SECONDS", "0"));
        assert!(error_of(&zero).contains("JWT_TOKEN_CACHE_MAX_TTL_SECONDS"));
        assert!(error_of(&with(("JWT_TOKEN_CACHE", "maybe"))).contains("JWT_TOKEN_CACHE"));
    }

    #[test]
    fn the_minimum_is_issuer_and_audience() {
        assert!(from(&BASE).is_ok());
        assert!(from(&[("JWT_AUTHORITY", "https://idp"), ("JWT_AUDIENCE", "api")]).is_ok());
        assert!(error_of(&[("JWT_AUDIENCE", "api")]).contains("JWT_AUTHORITY"));
        assert!(error_of(&[("JWT_ISSUER", "https://idp")]).contains("JWT_AUDIENCE"));
        assert!(
            error_of(&[("JWT_ISSUER", " "), ("JWT_AUDIENCE", "api")]).contains("JWT_AUTHORITY")
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (variable, value) in [
            ("JWT_ALGORITHMS", "RS256,none"),
            ("JWT_LEEWAY_SECONDS", "-1"),
            ("JWKS_CACHE_TYPE", "memcached"),
            ("JWKS_REFRESH_INTERVAL_SECONDS", "0"),
            ("JWKS_ENABLE_BACKGROUND_REFRESH", "maybe"),
        ] {
            let message = error_of(&with((variable, value)));
            assert!(message.contains(variable), "{variable}: {message}");
        }
    }

    #[test]
    fn good_values_are_taken() {
        assert!(from(&with(("JWT_ALGORITHMS", "RS256, ES256"))).is_ok());
        assert!(from(&with(("JWT_LEEWAY_SECONDS", "30"))).is_ok());
        assert!(from(&with(("JWKS_CACHE_TYPE", "in_memory"))).is_ok());
        assert!(from(&with(("JWKS_ENABLE_BACKGROUND_REFRESH", "true"))).is_ok());
        assert!(from(&with(("JWT_JWKS_URL", "https://idp/keys"))).is_ok());
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_needs_its_url() {
        let message = error_of(&with(("JWKS_CACHE_TYPE", "redis")));
        assert!(message.contains("REDIS_URL"), "{message}");
    }
}
