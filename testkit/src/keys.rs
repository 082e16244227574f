//! Signing keys for tests: RSA, EC and Ed25519, with their public JWKs.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::b64;
use crate::token::{Signer, TokenBuilder};

/// A private signing key with a `kid` and an algorithm, for minting test tokens.
///
/// ```
/// use jwtguard_testkit::TestKey;
///
/// let key = TestKey::ec_p256("ec-1");
/// assert_eq!(key.public_jwk()["kty"], "EC");
/// assert!(key.public_jwk().get("d").is_none());
/// ```
pub struct TestKey {
    kid: String,
    alg: &'static str,
    material: Material,
}

enum Material {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl TestKey {
    /// A new RSA-2048 key for RS256.
    pub fn rsa(kid: impl Into<String>) -> Self {
        Self::rsa_for(kid, "RS256")
    }

    /// A new RSA-2048 key for one of RS256/384/512 or PS256/384/512.
    ///
    /// # Panics
    /// If `alg` is not an RSA algorithm name.
    pub fn rsa_for(kid: impl Into<String>, alg: &'static str) -> Self {
        assert!(
            rsa_padding(alg).is_some(),
            "{alg} is not an RSA signature algorithm"
        );
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        Self {
            kid: kid.into(),
            alg,
            material: Material::Rsa(pair),
        }
    }

    /// A new P-256 key for ES256.
    pub fn ec_p256(kid: impl Into<String>) -> Self {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("EC key generation");
        Self {
            kid: kid.into(),
            alg: "ES256",
            material: Material::Ec(pair),
        }
    }

    /// A new P-384 key for ES384.
    pub fn ec_p384(kid: impl Into<String>) -> Self {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
            .expect("EC key generation");
        Self {
            kid: kid.into(),
            alg: "ES384",
            material: Material::Ec(pair),
        }
    }

    /// A new Ed25519 key for EdDSA.
    pub fn ed25519(kid: impl Into<String>) -> Self {
        let pair = Ed25519KeyPair::generate().expect("Ed25519 key generation");
        Self {
            kid: kid.into(),
            alg: "EdDSA",
            material: Material::Ed25519(pair),
        }
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), for code under test
    /// that signs with it (a client's `private_key_jwt` key, say).
    pub fn private_key_pem(&self) -> String {
        use aws_lc_rs::encoding::AsDer as _;
        let der: Vec<u8> = match &self.material {
            Material::Rsa(pair) => pair.as_der().expect("RSA PKCS#8").as_ref().to_vec(),
            Material::Ec(pair) => pair.to_pkcs8v1().expect("EC PKCS#8").as_ref().to_vec(),
            Material::Ed25519(pair) => pair.to_pkcs8v1().expect("Ed25519 PKCS#8").as_ref().to_vec(),
        };
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }

    /// The key's `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's algorithm name (`"RS256"`, `"ES256"`, `"EdDSA"`, ...).
    pub fn alg(&self) -> &'static str {
        self.alg
    }

    /// The public JWK: `kty` and the public members, `kid`, `alg` and `use: "sig"`.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = match &self.material {
            Material::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Material::Ec(pair) => {
                let point = pair.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = if len == 32 { "P-256" } else { "P-384" };
                json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": b64(&point[1..=len]),
                    "y": b64(&point[1 + len..]),
                })
            }
            Material::Ed25519(pair) => json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64(pair.public_key().as_ref()),
            }),
        };
        jwk["kid"] = self.kid.clone().into();
        jwk["alg"] = self.alg.into();
        jwk["use"] = "sig".into();
        jwk
    }

    /// The public JWK without `alg`, as many IdPs publish it.
    pub fn public_jwk_without_alg(&self) -> Value {
        let mut jwk = self.public_jwk();
        if let Some(members) = jwk.as_object_mut() {
            members.remove("alg");
        }
        jwk
    }

    /// Starts a token signed by this key, with header `{"alg", "kid", "typ": "at+jwt"}` and
    /// no claims.
    pub fn token(&self) -> TokenBuilder<'_> {
        TokenBuilder::new(self)
    }

    /// The key's public members only (`kty`, `crv`, `n`, `e`, `x`, `y`): what a DPoP proof
    /// carries in its `jwk` header.
    pub fn public_key_members(&self) -> Value {
        let mut jwk = self.public_jwk();
        if let Some(members) = jwk.as_object_mut() {
            for name in ["kid", "alg", "use"] {
                members.remove(name);
            }
        }
        jwk
    }

    /// The key's RFC 7638 thumbprint (SHA-256, base64url): what a token bound to this key
    /// carries as `cnf.jkt`.
    pub fn jwk_thumbprint(&self) -> String {
        let jwk = self.public_key_members();
        let names: &[&str] = match jwk["kty"].as_str() {
            Some("RSA") => &["e", "kty", "n"],
            Some("EC") => &["crv", "kty", "x", "y"],
            _ => &["crv", "kty", "x"],
        };
        let members: Vec<String> = names
            .iter()
            .map(|name| format!("\"{name}\":{}", jwk[*name]))
            .collect();
        let canonical = format!("{{{}}}", members.join(","));
        b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// Starts a DPoP proof (RFC 9449 §4.2) signed by this key for a request with `method` to
    /// `htu` carrying `access_token`: header `{"typ": "dpop+jwt", "alg", "jwk"}` (the public
    /// members), claims `jti` (random), `htm`, `htu`, `iat` (now) and `ath`. Change any of
    /// them to build a bad proof.
    ///
    /// ```
    /// use jwtguard_testkit::TestKey;
    ///
    /// let key = TestKey::ec_p256("client");
    /// let proof = key.dpop_proof("GET", "https://api.example.test/me", "the-token").sign();
    /// assert_eq!(proof.split('.').count(), 3);
    /// ```
    pub fn dpop_proof(&self, method: &str, htu: &str, access_token: &str) -> TokenBuilder<'_> {
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).expect("randomness");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let ath = b64(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            access_token.as_bytes(),
        )
        .as_ref());
        TokenBuilder::new(self)
            .without_header("kid")
            .header("typ", "dpop+jwt")
            .header("jwk", self.public_key_members())
            .claim("jti", b64(&jti))
            .claim("htm", method)
            .claim("htu", htu)
            .claim("iat", now)
            .claim("ath", ath)
    }

    /// Signs `message` with the key's own algorithm.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.sign_as(self.alg, message)
    }

    /// Signs `message` as `alg` (an RSA key can sign as any RSA algorithm; other keys ignore
    /// `alg` and use their own).
    pub fn sign_as(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.material {
            Material::Rsa(pair) => {
                let padding = rsa_padding(alg).unwrap_or(&signature::RSA_PKCS1_SHA256);
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &rng, message, &mut signature)
                    .expect("RSA signing");
                signature
            }
            Material::Ec(pair) => pair
                .sign(&rng, message)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
            Material::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}

impl Signer for TestKey {
    fn kid(&self) -> &str {
        &self.kid
    }

    fn alg(&self) -> &str {
        self.alg
    }

    fn sign_as(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        TestKey::sign_as(self, alg, message)
    }
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn rsa_padding(alg: &str) -> Option<&'static dyn signature::RsaEncoding> {
    Some(match alg {
        "RS256" => &signature::RSA_PKCS1_SHA256,
        "RS384" => &signature::RSA_PKCS1_SHA384,
        "RS512" => &signature::RSA_PKCS1_SHA512,
        "PS256" => &signature::RSA_PSS_SHA256,
        "PS384" => &signature::RSA_PSS_SHA384,
        "PS512" => &signature::RSA_PSS_SHA512,
        _ => return None,
    })
}

/// A JWKS document (`{"keys": [...]}`) with the public JWKs of `keys`.
pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a TestKey>) -> Value {
    json!({ "keys": keys.into_iter().map(TestKey::public_jwk).collect::<Vec<_>>() })
}
