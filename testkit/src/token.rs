//! Minting tokens: well-formed ones, and every kind of malformed one.

use aws_lc_rs::hmac;
use serde_json::{Map, Value, json};

use crate::b64;

/// What signs test tokens: a [`TestKey`](crate::TestKey), or a key of your own.
pub trait Signer {
    /// The `kid` a token's header starts with.
    fn kid(&self) -> &str;
    /// The algorithm name a token's header starts with (`"RS256"`, `"ES256"`, ...).
    fn alg(&self) -> &str;
    /// Signs `message` as `alg` (or as the key's own algorithm when it can't sign as `alg`).
    fn sign_as(&self, alg: &str, message: &[u8]) -> Vec<u8>;
}

/// Builds a compact JWS signed by a [`Signer`] such as a [`TestKey`](crate::TestKey) (or an
/// HMAC secret, or nothing at all).
///
/// The header starts as `{"alg": <key alg>, "kid": <key kid>, "typ": "at+jwt"}`; every member
/// can be replaced or removed, including to values a validator must refuse.
///
/// ```
/// use jwtguard_testkit::TestKey;
/// use serde_json::json;
///
/// let key = TestKey::ed25519("k1");
/// let token = key
///     .token()
///     .claims(json!({"iss": "https://idp.test", "sub": "alice"}))
///     .header("alg", "none")
///     .unsigned();
/// assert!(token.ends_with('.'));
/// ```
#[derive(Clone)]
pub struct TokenBuilder<'k> {
    key: &'k dyn Signer,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl std::fmt::Debug for TokenBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("kid", &self.key.kid())
            .field("header", &self.header)
            .field("claims", &self.claims)
            .finish()
    }
}

impl<'k> TokenBuilder<'k> {
    /// Starts a token signed by `key`, with header `{"alg", "kid", "typ": "at+jwt"}` and no
    /// claims. ([`TestKey::token`](crate::TestKey::token) does the same.)
    pub fn new(key: &'k dyn Signer) -> Self {
        let header = json!({"alg": key.alg(), "kid": key.kid(), "typ": "at+jwt"});
        Self {
            key,
            header: header.as_object().cloned().unwrap_or_default(),
            claims: Map::new(),
        }
    }

    /// Sets a header member.
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a header member.
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Sets a claim.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Sets several claims from a JSON object (members of other values are ignored).
    pub fn claims(mut self, claims: Value) -> Self {
        if let Value::Object(members) = claims {
            self.claims.extend(members);
        }
        self
    }

    /// Removes a claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// The header as it stands.
    pub fn header_json(&self) -> String {
        Value::Object(self.header.clone()).to_string()
    }

    /// The claims as they stand.
    pub fn claims_json(&self) -> String {
        Value::Object(self.claims.clone()).to_string()
    }

    /// Signs with the key, as the header's `alg` says when the key can (an RSA key signs as
    /// any RSA algorithm), else as the key's own algorithm.
    pub fn sign(&self) -> String {
        let alg = self
            .header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or(self.key.alg());
        let input = self.signing_input();
        let signature = self.key.sign_as(alg, input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    /// Signs with an HMAC secret, using SHA-256, -384 or -512 as the header's `alg` says
    /// (HS256 otherwise).
    pub fn sign_hmac(&self, secret: &[u8]) -> String {
        let algorithm = match self.header.get("alg").and_then(Value::as_str) {
            Some("HS384") => hmac::HMAC_SHA384,
            Some("HS512") => hmac::HMAC_SHA512,
            _ => hmac::HMAC_SHA256,
        };
        let input = self.signing_input();
        let tag = hmac::sign(&hmac::Key::new(algorithm, secret), input.as_bytes());
        format!("{input}.{}", b64(tag.as_ref()))
    }

    /// No signature at all: `header.payload.`.
    pub fn unsigned(&self) -> String {
        format!("{}.", self.signing_input())
    }

    /// The given signature bytes, whatever they are.
    pub fn with_signature(&self, signature: &[u8]) -> String {
        format!("{}.{}", self.signing_input(), b64(signature))
    }

    /// `base64url(header).base64url(claims)`.
    pub fn signing_input(&self) -> String {
        format!(
            "{}.{}",
            b64(self.header_json().as_bytes()),
            b64(self.claims_json().as_bytes())
        )
    }
}

/// A compact JWS from raw header and payload text (duplicate members, broken JSON, anything)
/// signed by `key`, as its own algorithm, over exactly those bytes.
pub fn mint_raw(key: &dyn Signer, header_json: &str, payload_json: &str) -> String {
    let input = format!(
        "{}.{}",
        b64(header_json.as_bytes()),
        b64(payload_json.as_bytes())
    );
    let signature = key.sign_as(key.alg(), input.as_bytes());
    format!("{input}.{}", b64(&signature))
}
