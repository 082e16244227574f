//! The client's DPoP key (RFC 9449): it binds the tokens a [`TokenManager`](crate::TokenManager)
//! obtains, and signs a proof for every token request and every call.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk,
};
use jsonwebtoken::{EncodingKey, Header};
use url::Url;

use crate::error::{Error, ErrorKind};

/// A DPoP key: an ES256 key pair the client holds, whose thumbprint the tokens it obtains are
/// bound to (`cnf.jkt`), and with which it signs a proof for each request.
///
/// Generate one per process ([`generate`](Self::generate)), or load one
/// ([`from_pkcs8_pem`](Self::from_pkcs8_pem)) so that instances sharing tokens share the key.
/// The private key never shows in `Debug`. Cheap to clone.
///
/// ```
/// use jwtguard_client::DpopKey;
///
/// let key = DpopKey::generate().unwrap();
/// let url = url::Url::parse("https://api.example.com/orders?page=2").unwrap();
/// let proof = key.proof("GET", &url, Some("the-access-token"), None).unwrap();
/// assert_eq!(proof.split('.').count(), 3);
/// assert_eq!(key.thumbprint().len(), 43);
/// ```
#[derive(Clone)]
pub struct DpopKey {
    inner: Arc<Inner>,
}

struct Inner {
    signing: EncodingKey,
    jwk: Jwk,
    thumbprint: String,
}

impl DpopKey {
    /// A new random ES256 key.
    pub fn generate() -> Result<Self, Error> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| Error::new(ErrorKind::Config, "no ES256 key could be generated"))?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// An ES256 key from a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, Error> {
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|_| Error::new(ErrorKind::Config, "the DPoP key is not a PEM"))?;
        Self::from_pkcs8_der(&der)
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(|_| {
                Error::new(
                    ErrorKind::Config,
                    "the DPoP key is not a PKCS#8 P-256 private key",
                )
            })?;
        let point = pair.public_key().as_ref();
        let (x, y) = (&point[1..33], &point[33..65]);
        let jwk = Jwk {
            common: CommonParameters::default(),
            algorithm: AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P256,
                x: URL_SAFE_NO_PAD.encode(x),
                y: URL_SAFE_NO_PAD.encode(y),
            }),
        };
        let members = serde_json::to_value(&jwk)
            .ok()
            .and_then(|value| value.as_object().cloned())
            .ok_or_else(|| Error::new(ErrorKind::Config, "the DPoP key has no JWK"))?;
        let thumbprint = jwtguard_core::dpop::jwk_thumbprint(&members)
            .map_err(|_| Error::new(ErrorKind::Config, "the DPoP key has no thumbprint"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                signing: EncodingKey::from_ec_der(der),
                jwk,
                thumbprint,
            }),
        })
    }

    /// The key's RFC 7638 thumbprint: the `cnf.jkt` of the tokens bound to it.
    pub fn thumbprint(&self) -> &str {
        &self.inner.thumbprint
    }

    /// A fresh proof (a new `jti`, `iat` now) for a request with `method` to `url` (its query
    /// and fragment left out), with `ath` for `access_token` when one is sent, and `nonce` when
    /// the server asked for one.
    pub fn proof(
        &self,
        method: &str,
        url: &Url,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, Error> {
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        // Never credentials of the URL in a signed proof a server may log.
        let _ = htu.set_username("");
        let _ = htu.set_password(None);
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti)
            .map_err(|_| Error::new(ErrorKind::Config, "no randomness for a DPoP proof"))?;
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let mut claims = serde_json::json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": method,
            "htu": htu.as_str(),
            "iat": iat,
        });
        if let Some(token) = access_token {
            claims["ath"] = URL_SAFE_NO_PAD
                .encode(digest::digest(&digest::SHA256, token.as_bytes()))
                .into();
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("dpop+jwt".to_owned());
        header.jwk = Some(self.inner.jwk.clone());
        jsonwebtoken::encode(&header, &claims, &self.inner.signing)
            .map_err(|_| Error::new(ErrorKind::Config, "the DPoP proof could not be signed"))
    }
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &"ES256")
            .field("thumbprint", &self.inner.thumbprint)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwtguard_core::dpop::{DpopVerifier, normalize_htu};

    #[tokio::test]
    async fn the_core_accepts_its_proofs() {
        let key = DpopKey::generate().unwrap();
        let verifier = DpopVerifier::builder()
            .public_url("https://api.example.com")
            .build()
            .unwrap();
        let url = Url::parse("https://api.example.com/orders/7?x=1#f").unwrap();
        let proof = key.proof("POST", &url, Some("tok"), None).unwrap();
        let uri = normalize_htu("https://api.example.com/orders/7").unwrap();
        let checked = verifier
            .check(&proof, "POST", &uri, "tok", Some(key.thumbprint()))
            .await
            .unwrap();
        assert_eq!(checked.jkt, key.thumbprint());
        assert!(!format!("{key:?}").contains("signing"));
    }
}
