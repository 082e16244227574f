//! How a client proves who it is to the authorization server's endpoints (token,
//! introspection): `client_secret_basic`, `client_secret_post` (RFC 6749 §2.3.1) or
//! `private_key_jwt` (RFC 7523, OpenID Connect Core §9).
//!
//! Secrets and keys are held so that they never reach `Debug`, logs or errors.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::jose::Algorithm;

/// The lifetime of a `private_key_jwt` client assertion: 60 s.
pub const ASSERTION_LIFETIME_SECS: u64 = 60;

/// A client's credentials for the authorization server's endpoints.
///
/// ```
/// use jwtguard_core::provider::ClientAuth;
///
/// let auth = ClientAuth::secret_basic("my-service", "s3cr3t");
/// assert_eq!(auth.client_id(), "my-service");
/// assert_eq!(auth.method_name(), "client_secret_basic");
/// // The secret never shows.
/// assert!(!format!("{auth:?}").contains("s3cr3t"));
/// ```
#[derive(Clone)]
pub struct ClientAuth {
    client_id: String,
    method: Method,
}

#[derive(Clone)]
enum Method {
    SecretBasic(SecretString),
    SecretPost(SecretString),
    PrivateKeyJwt(ClientKey),
}

/// A private key a client signs its `private_key_jwt` assertions with, and its algorithm
/// (never taken from anywhere else).
#[derive(Clone)]
pub struct ClientKey {
    key: EncodingKey,
    alg: Algorithm,
    kid: Option<String>,
}

impl ClientKey {
    /// A key from PEM text (`PRIVATE KEY` PKCS#8, or `RSA PRIVATE KEY` / `EC PRIVATE KEY`), for
    /// `alg`: RS256/384/512 or PS256/384/512 with an RSA key, ES256/ES384 with an EC key, EdDSA
    /// with an Ed25519 key. HMAC algorithms are refused: `private_key_jwt` is asymmetric.
    pub fn from_pem(pem: &[u8], alg: Algorithm) -> Result<Self, Error> {
        use Algorithm::*;
        let parsed = match alg {
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => EncodingKey::from_rsa_pem(pem),
            ES256 | ES384 => EncodingKey::from_ec_pem(pem),
            EdDSA => EncodingKey::from_ed_pem(pem),
            ES512 | HS256 | HS384 | HS512 => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("{alg} can't sign a private_key_jwt client assertion"),
                ));
            }
        };
        let key = parsed.map_err(|_| {
            Error::new(
                ErrorKind::Config,
                format!("the client key is not a private key PEM usable with {alg}"),
            )
        })?;
        let probe = Self {
            key,
            alg,
            kid: None,
        };
        // Sign once now, so that a key of the wrong kind fails at configuration time.
        probe.sign(&Assertion::probe())?;
        Ok(probe)
    }

    /// The same key, naming `kid` in the assertions' header (so that the server picks the
    /// right one of the client's registered keys).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    fn sign(&self, claims: &Assertion<'_>) -> Result<String, Error> {
        let alg = jsonwebtoken::Algorithm::from(self.alg);
        let mut header = Header::new(alg);
        header.kid.clone_from(&self.kid);
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|_| {
            Error::new(
                ErrorKind::Config,
                format!("the client key can't sign with {}", self.alg),
            )
        })
    }
}

impl From<Algorithm> for jsonwebtoken::Algorithm {
    fn from(alg: Algorithm) -> Self {
        use jsonwebtoken::Algorithm as J;
        match alg {
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            // Refused by `from_pem` before any signing: jsonwebtoken has no ES512.
            Algorithm::ES512 => J::ES384,
            Algorithm::EdDSA => J::EdDSA,
            Algorithm::HS256 => J::HS256,
            Algorithm::HS384 => J::HS384,
            Algorithm::HS512 => J::HS512,
        }
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The claims of a client assertion (RFC 7523 §3).
#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: u64,
    exp: u64,
}

impl Assertion<'_> {
    fn probe() -> Self {
        Assertion {
            iss: "probe",
            sub: "probe",
            aud: "probe",
            jti: String::new(),
            iat: 0,
            exp: 0,
        }
    }
}

/// A random `jti`: 128 bits, base64url.
fn random_jti() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| Error::new(ErrorKind::Config, "no random numbers for a jti"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What a request to an endpoint carries once the client is authenticated: an
/// `Authorization` header value, and form fields to add.
pub struct Authentication {
    /// The `Authorization` header (for `client_secret_basic`), if any.
    pub authorization: Option<SecretString>,
    /// Form fields to add to the body (`client_id`, and the secret or the assertion).
    pub form: Vec<(&'static str, SecretString)>,
}

impl fmt::Debug for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<&str> = self.form.iter().map(|(name, _)| *name).collect();
        f.debug_struct("Authentication")
            .field("authorization", &self.authorization.is_some())
            .field("form", &fields)
            .finish()
    }
}

impl ClientAuth {
    /// `client_secret_basic`: the id and secret in an HTTP Basic header, each form-urlencoded
    /// first (RFC 6749 §2.3.1). What most servers expect by default.
    pub fn secret_basic(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            method: Method::SecretBasic(SecretString::from(secret.into())),
        }
    }

    /// `client_secret_post`: the id and secret as form fields of the request body.
    pub fn secret_post(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            method: Method::SecretPost(SecretString::from(secret.into())),
        }
    }

    /// `private_key_jwt`: a fresh assertion signed with `key` for every request (RFC 7523),
    /// living [`ASSERTION_LIFETIME_SECS`], with a random `jti`.
    pub fn private_key_jwt(client_id: impl Into<String>, key: ClientKey) -> Self {
        Self {
            client_id: client_id.into(),
            method: Method::PrivateKeyJwt(key),
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The method's registered name: `client_secret_basic`, `client_secret_post` or
    /// `private_key_jwt`.
    pub fn method_name(&self) -> &'static str {
        match self.method {
            Method::SecretBasic(_) => "client_secret_basic",
            Method::SecretPost(_) => "client_secret_post",
            Method::PrivateKeyJwt(_) => "private_key_jwt",
        }
    }

    /// A digest (SHA-256, hex) of the method and its credential (the secret, or the private
    /// key), so that two `ClientAuth`s can be told apart without keeping or showing either
    /// credential: a rotated secret is another client authentication.
    pub fn fingerprint(&self) -> String {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        context.update(self.method_name().as_bytes());
        context.update(&[0]);
        context.update(self.client_id.as_bytes());
        context.update(&[0]);
        match &self.method {
            Method::SecretBasic(secret) | Method::SecretPost(secret) => {
                context.update(secret.expose_secret().as_bytes());
            }
            Method::PrivateKeyJwt(key) => {
                context.update(key.alg.as_str().as_bytes());
                context.update(&[0]);
                context.update(key.kid.as_deref().unwrap_or("").as_bytes());
                context.update(&[0]);
                context.update(key.key.as_bytes());
            }
        }
        context
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// What a request must carry to authenticate this client. `audience` is the `aud` of a
    /// `private_key_jwt` assertion: the authorization server's issuer identifier, or the
    /// endpoint's URL (RFC 7523 §3); the other methods ignore it.
    pub fn authenticate(&self, audience: &str) -> Result<Authentication, Error> {
        let id = || SecretString::from(self.client_id.clone());
        Ok(match &self.method {
            Method::SecretBasic(secret) => {
                let pair = format!(
                    "{}:{}",
                    form_encode(&self.client_id),
                    form_encode(secret.expose_secret())
                );
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                Authentication {
                    authorization: Some(SecretString::from(format!("Basic {encoded}"))),
                    form: Vec::new(),
                }
            }
            Method::SecretPost(secret) => Authentication {
                authorization: None,
                form: vec![("client_id", id()), ("client_secret", secret.clone())],
            },
            Method::PrivateKeyJwt(key) => {
                let iat = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let assertion = key.sign(&Assertion {
                    iss: &self.client_id,
                    sub: &self.client_id,
                    aud: audience,
                    jti: random_jti()?,
                    iat,
                    exp: iat + ASSERTION_LIFETIME_SECS,
                })?;
                Authentication {
                    authorization: None,
                    form: vec![
                        ("client_id", id()),
                        (
                            "client_assertion_type",
                            SecretString::from(
                                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                            ),
                        ),
                        ("client_assertion", SecretString::from(assertion)),
                    ],
                }
            }
        })
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("client_id", &self.client_id)
            .field("method", &self.method_name())
            .finish_non_exhaustive()
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_encodes_id_and_secret_before_base64() {
        let auth = ClientAuth::secret_basic("a b", "p:w&d");
        let header = auth.authenticate("unused").unwrap().authorization.unwrap();
        let encoded = header.expose_secret().strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(std::str::from_utf8(&decoded).unwrap(), "a+b:p%3Aw%26d");
    }

    #[test]
    fn post_sends_the_secret_as_form_fields() {
        let auth = ClientAuth::secret_post("svc", "hunter2");
        let sent = auth.authenticate("unused").unwrap();
        assert!(sent.authorization.is_none());
        let fields: Vec<(&str, &str)> = sent
            .form
            .iter()
            .map(|(name, value)| (*name, value.expose_secret()))
            .collect();
        assert_eq!(fields, [("client_id", "svc"), ("client_secret", "hunter2")]);
        for shown in [format!("{auth:?}"), format!("{sent:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn hmac_and_garbage_are_refused_as_client_keys() {
        assert!(ClientKey::from_pem(b"secret", Algorithm::HS256).is_err());
        let err = ClientKey::from_pem(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            Algorithm::RS256,
        )
        .unwrap_err();
        assert!(err.is_config());
    }
}
