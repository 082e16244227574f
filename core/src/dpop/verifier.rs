//! The check of a DPoP proof (RFC 9449 §4.3), and where the request's URI comes from.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::{constant_time, digest};
use serde_json::Value;

use super::htu::{normalize_htu, normalize_percent_encoding};
use super::nonce::NonceSource;
use super::replay::{MemoryReplayStore, ReplayStore};
use super::thumbprint::jwk_thumbprint;
use crate::clock::{Clock, SystemClock};
use crate::defaults;
use crate::error::{Error, ErrorKind};
use crate::jose::compact::CompactJws;
use crate::jose::{Algorithm, base64url, json};
use crate::keys::jwk::proof_key;

/// When the DPoP scheme is accepted or needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// `Authorization: DPoP` is accepted: a DPoP-bound token (one with `cnf.jkt`) must come
    /// with a valid proof, and bearer tokens without `cnf` still pass. The default.
    #[default]
    Allowed,
    /// Only `Authorization: DPoP` with a valid proof passes: a bearer token is refused (401).
    Required,
}

/// The algorithms a DPoP proof may use by default: ES256, RS256, PS256 and EdDSA.
pub const DEFAULT_PROOF_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// Checks DPoP proofs (RFC 9449): what an [`Authenticator`](crate::Authenticator) with
/// `.dpop(verifier)` uses for `Authorization: DPoP` requests.
///
/// A proof is checked in this order; the first failure refuses it as
/// [`ErrorKind::InvalidDpopProof`] (401 `invalid_dpop_proof`):
///
/// 1. at most [`max_proof_size`](DpopVerifierBuilder::max_proof_size) bytes (4 KiB), before it
///    is parsed;
/// 2. a compact JWS read by the strict JOSE reader (no duplicate members, no `crit`);
/// 3. `typ` is `dpop+jwt`; `alg` is one of [`algorithms`](DpopVerifierBuilder::algorithms)
///    (ES256, RS256, PS256, EdDSA; never `none` or HMAC);
/// 4. `jwk` is a public key that passes the key set's checks: any private member (`d`, `p`,
///    `q`, `dp`, `dq`, `qi`, `oth`, `k`) refuses the proof;
/// 5. the signature verifies with that `jwk`;
/// 6. `htm` is the request's method; `htu` is the request's URI, both normalized (see
///    [`normalize_htu`]);
/// 7. `iat` is at most 60 s in the past and 5 s in the future (configurable);
/// 8. `ath` is the base64url SHA-256 of the access token;
/// 9. with [`nonces`](DpopVerifierBuilder::nonces), `nonce` is a current one, else
///    [`ErrorKind::UseDpopNonce`] with a fresh one;
/// 10. `jti` is new: SHA-256(thumbprint ‖ `jti`) is recorded in the
///     [`ReplayStore`] for the `iat` window, atomically.
///
/// The token's binding (`cnf.jkt` equal to the proof key's thumbprint) is the
/// authenticator's to check, with the thumbprint [`check`](Self::check) answers.
///
/// Cheap to clone (an `Arc` inside).
///
/// ```
/// use jwtguard_core::dpop::{DpopMode, DpopVerifier};
///
/// let verifier = DpopVerifier::builder()
///     .public_url("https://api.example.com")
///     .mode(DpopMode::Allowed)
///     .build()
///     .unwrap();
/// assert_eq!(verifier.mode(), DpopMode::Allowed);
/// ```
#[derive(Clone)]
pub struct DpopVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    mode: DpopMode,
    algorithms: Vec<Algorithm>,
    iat_past: Duration,
    iat_future: Duration,
    max_proof_size: usize,
    replay: Arc<dyn ReplayStore>,
    nonces: Option<NonceSource>,
    public_url: Option<String>,
    strip_prefix: Option<String>,
    trusted_proxies: Vec<IpAddr>,
    allow_unbound: bool,
    clock: Arc<dyn Clock>,
}

/// What a proof that passed says: the thumbprint of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
    /// The RFC 7638 thumbprint of the proof's `jwk`: what a bound token's `cnf.jkt` must be.
    pub jkt: String,
}

impl DpopVerifier {
    /// A builder with the defaults.
    pub fn builder() -> DpopVerifierBuilder {
        DpopVerifierBuilder {
            mode: DpopMode::Allowed,
            algorithms: DEFAULT_PROOF_ALGORITHMS.to_vec(),
            iat_past: defaults::DPOP_IAT_PAST,
            iat_future: defaults::DPOP_IAT_FUTURE,
            max_proof_size: defaults::MAX_DPOP_PROOF_SIZE,
            replay: None,
            nonces: None,
            public_url: None,
            strip_prefix: None,
            trusted_proxies: Vec::new(),
            allow_unbound: false,
            clock: Arc::new(SystemClock),
        }
    }

    /// When DPoP is accepted or needed.
    pub fn mode(&self) -> DpopMode {
        self.inner.mode
    }

    /// The algorithms a proof may use, for the challenge's `algs`.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.inner.algorithms
    }

    /// Whether a token without `cnf.jkt` may come with the DPoP scheme.
    pub fn allows_unbound(&self) -> bool {
        self.inner.allow_unbound
    }

    /// The nonce to hand out now, when nonces are on.
    pub fn current_nonce(&self) -> Option<String> {
        let now = self.inner.clock.unix_seconds();
        self.inner.nonces.as_ref().map(|nonces| nonces.current(now))
    }

    /// The URI the client addressed, for the `htu` comparison, normalized: the configured
    /// public URL followed by `path` (without the configured prefix); or, for a request from a
    /// trusted proxy (`peer`), the scheme and host its `Forwarded` or `X-Forwarded-Proto` and
    /// `X-Forwarded-Host` headers name (`header` lists a header's values), followed by `path`.
    /// Without either, [`ErrorKind::Misconfigured`].
    pub fn request_uri<'h>(
        &self,
        path: &str,
        peer: Option<IpAddr>,
        header: impl Fn(&str) -> Vec<&'h [u8]>,
    ) -> Result<String, Error> {
        let inner = &*self.inner;
        let bad_path = || Error::new(ErrorKind::InvalidRequest, "the request's path is not valid");
        if !path.starts_with('/') {
            return Err(bad_path());
        }
        // A prefix ends at a segment boundary: `/internal` is stripped from `/internal/me`,
        // not from `/internalfoo`.
        let path = match &inner.strip_prefix {
            Some(prefix) => match path.strip_prefix(prefix.trim_end_matches('/')) {
                Some("") => "/",
                Some(rest) if rest.starts_with('/') => rest,
                _ => path,
            },
            None => path,
        };
        let from_proxy = peer.is_some_and(|peer| inner.trusted_proxies.contains(&peer));
        let forwarded = if from_proxy {
            forwarded_origin(&header)
        } else {
            None
        };
        let base = match (forwarded, &inner.public_url) {
            (Some(origin), _) => origin,
            (None, Some(public)) => public.clone(),
            (None, None) => {
                return Err(Error::new(
                    ErrorKind::Misconfigured,
                    "DPoP needs a public URL, or a trusted proxy's forwarded headers",
                ));
            }
        };
        // The path as the server routes it: only its percent-encoding normalized, no dot
        // segment resolved, so that a proof names exactly the path that is served.
        let mut uri = base.trim_end_matches('/').to_owned();
        normalize_percent_encoding(path, &mut uri);
        Ok(uri)
    }

    /// Checks `proof` for a request with `method` to `uri` (from
    /// [`request_uri`](Self::request_uri)) carrying `access_token` bound to the thumbprint
    /// `bound` (its `cnf.jkt`; `None` for a token allowed unbound), and records its `jti`.
    ///
    /// A proof whose key is not `bound` is refused before its signature is checked, and is
    /// never recorded: a client can't fill the replay store with proofs of throwaway keys.
    pub async fn check(
        &self,
        proof: &str,
        method: &str,
        uri: &str,
        access_token: &str,
        bound: Option<&str>,
    ) -> Result<CheckedProof, Error> {
        let inner = &*self.inner;
        let invalid = |detail: String| Error::new(ErrorKind::InvalidDpopProof, detail);
        if proof.len() > inner.max_proof_size {
            return Err(invalid(format!(
                "the proof is over {} bytes",
                inner.max_proof_size
            )));
        }
        let (jws, jwk) = CompactJws::parse_proof(proof, inner.max_proof_size, &inner.algorithms)
            .map_err(|error| invalid(format!("the proof is not an acceptable JWS: {error}")))?;
        let header = jws.header();
        if !header
            .typ
            .is_some_and(|typ| typ.eq_ignore_ascii_case("dpop+jwt"))
        {
            return Err(invalid("the proof's typ is not dpop+jwt".to_owned()));
        }
        let Some(Value::Object(jwk)) = jwk else {
            return Err(invalid("the proof has no jwk object".to_owned()));
        };
        let jkt = jwk_thumbprint(&jwk)?;
        if let Some(bound) = bound
            && constant_time::verify_slices_are_equal(bound.as_bytes(), jkt.as_bytes()).is_err()
        {
            return Err(invalid(
                "the proof is not signed by the key the token is bound to".to_owned(),
            ));
        }
        let key = proof_key(Value::Object(jwk), header.alg)
            .map_err(|why| invalid(format!("the proof's jwk can't be used: {why}")))?;
        if !jws.check_with(&key) {
            return Err(invalid("the proof's signature does not verify".to_owned()));
        }
        let claims = json::parse_object(jws.unverified().payload())
            .map_err(|_| invalid("the proof's claims are not a JSON object".to_owned()))?;
        let text = |name: &'static str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("the proof has no {name} string")))
        };
        if text("htm")? != method {
            return Err(invalid(
                "the proof's htm is not the request's method".to_owned(),
            ));
        }
        if normalize_htu(text("htu")?)? != uri {
            return Err(invalid(
                "the proof's htu is not the request's URI".to_owned(),
            ));
        }
        let now = inner.clock.unix_seconds();
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid("the proof has no iat number".to_owned()))?;
        if iat.saturating_add(inner.iat_past.as_secs()) < now
            || iat > now.saturating_add(inner.iat_future.as_secs())
        {
            return Err(invalid("the proof's iat is outside the window".to_owned()));
        }
        let jti = text("jti")?;
        if jti.is_empty() || jti.len() > 512 {
            return Err(invalid("the proof's jti is empty or too long".to_owned()));
        }
        let ath =
            base64url::encode(digest::digest(&digest::SHA256, access_token.as_bytes()).as_ref());
        if text("ath")? != ath {
            return Err(invalid(
                "the proof's ath is not the token's hash".to_owned(),
            ));
        }
        if let Some(nonces) = &inner.nonces {
            let fresh = claims
                .get("nonce")
                .and_then(Value::as_str)
                .is_some_and(|nonce| nonces.accepts(nonce, now));
            if !fresh {
                return Err(Error::use_dpop_nonce(nonces.current(now)));
            }
        }
        let key_digest = sha256(&[jkt.as_bytes()]);
        let proof_digest = sha256(&[jkt.as_bytes(), b".", jti.as_bytes()]);
        // Kept as long as the proof could be accepted (until `iat` + the past window), and a
        // margin for clocks that differ between instances.
        let keep = Duration::from_secs(
            iat.saturating_add(inner.iat_past.as_secs())
                .saturating_sub(now),
        ) + defaults::DPOP_REPLAY_MARGIN;
        if !inner
            .replay
            .first_use(&proof_digest, &key_digest, keep)
            .await?
        {
            return Err(invalid("the proof was used before".to_owned()));
        }
        Ok(CheckedProof { jkt })
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// The origin a trusted proxy names, normalized: the last `Forwarded` element's `proto` and
/// `host` when there is a `Forwarded` header, else the last `X-Forwarded-Proto` and
/// `X-Forwarded-Host` values (the ones the nearest proxy set); never a mix of the two. `None`
/// when they don't name both, or name something that is not an `http(s)` origin.
fn forwarded_origin<'h>(header: &impl Fn(&str) -> Vec<&'h [u8]>) -> Option<String> {
    let last = |name: &str| -> Option<String> {
        let values = header(name);
        let value = std::str::from_utf8(values.last()?).ok()?;
        Some(value.rsplit(',').next()?.trim().to_owned())
    };
    let (proto, host) = match last("forwarded") {
        Some(element) => {
            let mut proto = None;
            let mut host = None;
            for pair in element.split(';') {
                if let Some((name, value)) = pair.trim().split_once('=') {
                    let value = value.trim().trim_matches('"').to_owned();
                    match name.trim().to_ascii_lowercase().as_str() {
                        "proto" => proto = Some(value),
                        "host" => host = Some(value),
                        _ => {}
                    }
                }
            }
            (proto?, host?)
        }
        None => (last("x-forwarded-proto")?, last("x-forwarded-host")?),
    };
    let proto = proto.to_ascii_lowercase();
    let host_fits = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    if !matches!(proto.as_str(), "http" | "https") || !host_fits {
        return None;
    }
    normalize_htu(&format!("{proto}://{host}"))
        .ok()
        .map(|origin| origin.trim_end_matches('/').to_owned())
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("DpopVerifier")
            .field("mode", &inner.mode)
            .field("algorithms", &inner.algorithms)
            .field("public_url", &inner.public_url)
            .field("nonces", &inner.nonces.is_some())
            .field("allow_unbound", &inner.allow_unbound)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DpopVerifier`]. Every setting has a stated default; a public URL or trusted
/// proxies are required.
#[must_use]
pub struct DpopVerifierBuilder {
    mode: DpopMode,
    algorithms: Vec<Algorithm>,
    iat_past: Duration,
    iat_future: Duration,
    max_proof_size: usize,
    replay: Option<Arc<dyn ReplayStore>>,
    nonces: Option<NonceSource>,
    public_url: Option<String>,
    strip_prefix: Option<String>,
    trusted_proxies: Vec<IpAddr>,
    allow_unbound: bool,
    clock: Arc<dyn Clock>,
}

impl DpopVerifierBuilder {
    /// When DPoP is accepted or needed. Default [`DpopMode::Allowed`].
    pub fn mode(mut self, mode: DpopMode) -> Self {
        self.mode = mode;
        self
    }

    /// The algorithms a proof may use. Default [`DEFAULT_PROOF_ALGORITHMS`] (ES256, RS256,
    /// PS256, EdDSA). HMAC algorithms are refused at [`build`](Self::build): a proof is signed
    /// with the client's private key.
    pub fn algorithms<I: IntoIterator<Item = Algorithm>>(mut self, algorithms: I) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How far in the past (default 60 s) and in the future (default 5 s) a proof's `iat`
    /// may be. The replay store keeps each proof for the sum.
    pub fn iat_window(mut self, past: Duration, future: Duration) -> Self {
        self.iat_past = past;
        self.iat_future = future;
        self
    }

    /// The largest proof read, in bytes. Default 4 KiB.
    pub fn max_proof_size(mut self, bytes: usize) -> Self {
        self.max_proof_size = bytes;
        self
    }

    /// Where seen proofs are recorded. Default a [`MemoryReplayStore`]; a fleet shares a
    /// `RedisReplayStore` (feature `redis`).
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay = Some(Arc::new(store));
        self
    }

    /// Server nonces (RFC 9449 §8): a proof without a current one is answered 401
    /// `use_dpop_nonce` with a fresh one in `DPoP-Nonce`. Default: off.
    pub fn nonces(mut self, nonces: NonceSource) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// The URL clients address this server by (`https://api.example.com`, or with a path,
    /// `https://example.com/orders`): the request's path is appended to it for the `htu`
    /// comparison. Never taken from the request's `Host`, which the client chooses.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// A prefix a proxy adds to paths before they reach this server, removed before the
    /// path is appended to the public URL. Default: none.
    pub fn strip_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.strip_prefix = Some(prefix.into());
        self
    }

    /// The proxies whose `Forwarded` (or `X-Forwarded-Proto` and `X-Forwarded-Host`) headers
    /// name the origin clients addressed. Requests from other peers use the public URL; the
    /// adapters must know the peer's address (axum: serve with `ConnectInfo<SocketAddr>`).
    /// Default: none.
    pub fn trusted_proxies<I: IntoIterator<Item = IpAddr>>(mut self, proxies: I) -> Self {
        self.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// Accepts a token without `cnf.jkt` sent with the DPoP scheme (it is then checked as a
    /// bearer token, its proof checked all the same). Default: refused.
    pub fn allow_unbound_tokens(mut self, allow: bool) -> Self {
        self.allow_unbound = allow;
        self
    }

    /// The clock (for tests). Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The verifier.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] without a public URL or trusted proxies, with a public URL that is
    /// not an `http(s)` URL, or with no algorithm or an HMAC one.
    pub fn build(self) -> Result<DpopVerifier, Error> {
        let config = |what: &str| Error::new(ErrorKind::Config, what.to_owned());
        if self.algorithms.is_empty() || self.algorithms.iter().any(|alg| alg.is_hmac()) {
            return Err(config("DPoP proofs need asymmetric algorithms"));
        }
        if self.public_url.is_none() && self.trusted_proxies.is_empty() {
            return Err(config("DPoP needs a public URL or trusted proxies"));
        }
        let public_url = match self.public_url {
            Some(url) => {
                let normalized = normalize_htu(&url)
                    .map_err(|_| config("the DPoP public URL is not an http(s) URL"))?;
                Some(normalized)
            }
            None => None,
        };
        Ok(DpopVerifier {
            inner: Arc::new(Inner {
                mode: self.mode,
                algorithms: self.algorithms,
                iat_past: self.iat_past,
                iat_future: self.iat_future,
                max_proof_size: self.max_proof_size,
                replay: self
                    .replay
                    .unwrap_or_else(|| Arc::new(MemoryReplayStore::new())),
                nonces: self.nonces,
                public_url,
                strip_prefix: self.strip_prefix,
                trusted_proxies: self.trusted_proxies,
                allow_unbound: self.allow_unbound,
                clock: self.clock,
            }),
        })
    }
}

impl fmt::Debug for DpopVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifierBuilder")
            .field("mode", &self.mode)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpop::MemoryReplayStore;
    use jwtguard_testkit::TestKey;

    const URI: &str = "https://api.example.test/orders/7";
    const TOKEN: &str = "the.access.token";

    fn verifier() -> DpopVerifier {
        DpopVerifier::builder()
            .public_url("https://api.example.test")
            .build()
            .unwrap()
    }

    fn now() -> u64 {
        SystemClock.unix_seconds()
    }

    async fn check(verifier: &DpopVerifier, proof: &str) -> Result<CheckedProof, Error> {
        verifier
            .check(proof, "GET", &normalize_htu(URI).unwrap(), TOKEN, None)
            .await
    }

    async fn refused(proof: &str) -> String {
        let error = check(&verifier(), proof).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidDpopProof, "{error}");
        assert!(!format!("{error} {error:?}").contains(proof));
        error.to_string()
    }

    #[tokio::test]
    async fn a_good_proof_passes_once_and_names_its_key() {
        let verifier = verifier();
        for key in [
            TestKey::ec_p256("c"),
            TestKey::rsa("r"),
            TestKey::ed25519("e"),
        ] {
            let proof = key.dpop_proof("GET", URI, TOKEN).sign();
            let checked = check(&verifier, &proof).await.expect("a good proof");
            assert_eq!(checked.jkt, key.jwk_thumbprint());
            let replayed = check(&verifier, &proof).await.unwrap_err();
            assert!(replayed.to_string().contains("used before"), "{replayed}");
        }
        // The URI as the client wrote it, normalized the same way.
        let key = TestKey::ec_p256("c");
        let proof = key
            .dpop_proof("GET", "HTTPS://API.example.test:443/orders/%37?x=1", TOKEN)
            .sign();
        check(&verifier, &proof).await.expect("an equivalent htu");
    }

    #[tokio::test]
    async fn a_proof_for_another_request_is_refused() {
        let key = TestKey::ec_p256("c");
        let proof = |method: &str, htu: &str| key.dpop_proof(method, htu, TOKEN).sign();
        assert!(refused(&proof("POST", URI)).await.contains("htm"));
        for other in [
            "https://api.example.test/orders/8",
            "https://api.example.test:8443/orders/7",
            "http://api.example.test/orders/7",
            "https://api.example.test/orders//7",
            "https://api.example.test//orders/7",
            "https://other.example.test/orders/7",
            "https://api.example.test/Orders/7",
        ] {
            assert!(
                refused(&proof("GET", other)).await.contains("htu"),
                "{other}"
            );
        }
        let other_token = key.dpop_proof("GET", URI, "another.token").sign();
        assert!(refused(&other_token).await.contains("ath"));
        let no_ath = key
            .dpop_proof("GET", URI, TOKEN)
            .without_claim("ath")
            .sign();
        assert!(refused(&no_ath).await.contains("ath"));
    }

    #[tokio::test]
    async fn iat_must_be_recent() {
        let key = TestKey::ec_p256("c");
        for iat in [now() - 61, now() + 6, 0] {
            let proof = key.dpop_proof("GET", URI, TOKEN).claim("iat", iat).sign();
            assert!(refused(&proof).await.contains("iat"), "{iat}");
        }
        let proof = key
            .dpop_proof("GET", URI, TOKEN)
            .claim("iat", now() - 55)
            .sign();
        check(&verifier(), &proof).await.expect("within 60 s");
        let proof = key.dpop_proof("GET", URI, TOKEN).claim("iat", "now").sign();
        assert!(refused(&proof).await.contains("iat"));
    }

    #[tokio::test]
    async fn the_header_is_checked_first() {
        let key = TestKey::ec_p256("c");
        let good = || key.dpop_proof("GET", URI, TOKEN);
        assert!(
            refused(&good().header("typ", "JWT").sign())
                .await
                .contains("typ")
        );
        assert!(
            refused(&good().without_header("typ").sign())
                .await
                .contains("typ")
        );
        assert!(
            refused(&good().without_header("jwk").sign())
                .await
                .contains("jwk")
        );
        // A private key in `jwk`: refused, whatever else is right.
        let mut private = key.public_key_members();
        private["d"] = "AAAA".into();
        assert!(
            refused(&good().header("jwk", private).sign())
                .await
                .contains("private")
        );
        // alg none, and HS256 keyed with the jwk.
        let none = good().header("alg", "none").unsigned();
        assert!(refused(&none).await.contains("JWS"));
        let jwk = key.public_key_members().to_string();
        let hmac = good().header("alg", "HS256").sign_hmac(jwk.as_bytes());
        assert!(refused(&hmac).await.contains("JWS"));
        // Another key's jwk than the one that signed.
        let other = TestKey::ec_p256("o");
        let swapped = good().header("jwk", other.public_key_members()).sign();
        assert!(refused(&swapped).await.contains("signature"));
        // ES384 is not on the default list.
        let p384 = TestKey::ec_p384("p");
        let proof = p384.dpop_proof("GET", URI, TOKEN).sign();
        assert!(refused(&proof).await.contains("JWS"));
        // Over 4 KiB, before anything is parsed.
        let big = good().claim("pad", "x".repeat(4096)).sign();
        assert!(refused(&big).await.contains("over 4096 bytes"));
    }

    #[tokio::test]
    async fn a_proof_of_another_key_than_the_tokens_is_never_recorded() {
        let store = MemoryReplayStore::with_bounds(10, 10);
        let verifier = DpopVerifier::builder()
            .public_url("https://api.example.test")
            .replay_store(store.clone())
            .build()
            .unwrap();
        let owner = TestKey::ec_p256("owner");
        let uri = normalize_htu(URI).unwrap();
        for n in 0..50 {
            let throwaway = TestKey::ec_p256(format!("k{n}"));
            let proof = throwaway.dpop_proof("GET", URI, TOKEN).sign();
            let error = verifier
                .check(&proof, "GET", &uri, TOKEN, Some(&owner.jwk_thumbprint()))
                .await
                .unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidDpopProof);
        }
        let proof = owner.dpop_proof("GET", URI, TOKEN).sign();
        verifier
            .check(&proof, "GET", &uri, TOKEN, Some(&owner.jwk_thumbprint()))
            .await
            .expect("the store has room: nothing else was recorded");
    }

    #[tokio::test]
    async fn a_full_store_refuses_rather_than_forgets() {
        let verifier = DpopVerifier::builder()
            .public_url("https://api.example.test")
            .replay_store(MemoryReplayStore::with_bounds(3, 100))
            .build()
            .unwrap();
        let key = TestKey::ec_p256("c");
        let first = key.dpop_proof("GET", URI, TOKEN).sign();
        check(&verifier, &first).await.unwrap();
        for _ in 0..2 {
            check(&verifier, &key.dpop_proof("GET", URI, TOKEN).sign())
                .await
                .unwrap();
        }
        let full = check(&verifier, &key.dpop_proof("GET", URI, TOKEN).sign())
            .await
            .unwrap_err();
        assert_eq!(full.status(), 503);
        // The first proof is still remembered.
        let replay = check(&verifier, &first).await.unwrap_err();
        assert!(replay.to_string().contains("used before"), "{replay}");
    }

    #[tokio::test]
    async fn the_nonce_dance() {
        let nonces = NonceSource::new(&[3; 32], defaults::DPOP_NONCE_LIFETIME).unwrap();
        let verifier = DpopVerifier::builder()
            .public_url("https://api.example.test")
            .nonces(nonces.clone())
            .build()
            .unwrap();
        let key = TestKey::ec_p256("c");
        let first = check(&verifier, &key.dpop_proof("GET", URI, TOKEN).sign())
            .await
            .unwrap_err();
        assert_eq!(first.kind(), ErrorKind::UseDpopNonce);
        let nonce = first.dpop_nonce().unwrap().to_owned();
        assert_eq!(Some(nonce.clone()), verifier.current_nonce());
        let stale = key
            .dpop_proof("GET", URI, TOKEN)
            .claim("nonce", nonces.current(now() - 600))
            .sign();
        assert_eq!(
            check(&verifier, &stale).await.unwrap_err().kind(),
            ErrorKind::UseDpopNonce
        );
        let second = key
            .dpop_proof("GET", URI, TOKEN)
            .claim("nonce", nonce)
            .sign();
        check(&verifier, &second).await.expect("with the nonce");
    }

    #[test]
    fn the_request_uri_comes_from_configuration_or_trusted_proxies() {
        let proxy: IpAddr = [10, 0, 0, 1].into();
        let verifier = DpopVerifier::builder()
            .public_url("https://example.test/api/")
            .strip_prefix("/internal")
            .trusted_proxies([proxy])
            .build()
            .unwrap();
        let none = |_: &str| Vec::<&[u8]>::new();
        assert_eq!(
            verifier.request_uri("/internal/me", None, none).unwrap(),
            "https://example.test/api/me"
        );
        let forwarded = |name: &str| -> Vec<&[u8]> {
            match name {
                "forwarded" => vec![
                    b"for=1.2.3.4;proto=http;host=evil.test, proto=https;host=edge.example.test"
                        .as_slice(),
                ],
                _ => Vec::new(),
            }
        };
        // From a trusted proxy: the origin its header names (the last element, its own).
        assert_eq!(
            verifier.request_uri("/me", Some(proxy), forwarded).unwrap(),
            "https://edge.example.test/me"
        );
        // From anyone else: the configured URL, whatever the headers say.
        assert_eq!(
            verifier
                .request_uri("/me", Some([10, 0, 0, 2].into()), forwarded)
                .unwrap(),
            "https://example.test/api/me"
        );
        let x_forwarded = |name: &str| -> Vec<&[u8]> {
            match name {
                "x-forwarded-proto" => vec![b"https".as_slice()],
                "x-forwarded-host" => vec![b"edge.example.test:8443".as_slice()],
                _ => Vec::new(),
            }
        };
        assert_eq!(
            verifier
                .request_uri("/me", Some(proxy), x_forwarded)
                .unwrap(),
            "https://edge.example.test:8443/me"
        );
        // A prefix ends at a segment boundary; a path is kept as routed, dots and all.
        assert_eq!(
            verifier
                .request_uri("/internalfoo/bar", None, none)
                .unwrap(),
            "https://example.test/api/internalfoo/bar"
        );
        assert_eq!(
            verifier.request_uri("/internal", None, none).unwrap(),
            "https://example.test/api/"
        );
        assert_eq!(
            verifier.request_uri("/a/%2e%2e/admin", None, none).unwrap(),
            "https://example.test/api/a/../admin"
        );
        assert!(verifier.request_uri("me", None, none).is_err());
        // Never a mix of Forwarded and X-Forwarded-*, never a host that is not a host.
        let mixed = |name: &str| -> Vec<&[u8]> {
            match name {
                "forwarded" => vec![b"for=10.0.0.9".as_slice()],
                "x-forwarded-proto" => vec![b"https".as_slice()],
                "x-forwarded-host" => vec![b"client-chosen.example.test".as_slice()],
                _ => Vec::new(),
            }
        };
        assert_eq!(
            verifier.request_uri("/me", Some(proxy), mixed).unwrap(),
            "https://example.test/api/me"
        );
        for host in ["evil.test/x?", "", "a b", "user@evil.test", "evil.test#"] {
            let value = format!("proto=https;host=\"{host}\"");
            let odd = |name: &str| -> Vec<&[u8]> {
                match name {
                    "forwarded" => vec![value.as_bytes()],
                    _ => Vec::new(),
                }
            };
            assert_eq!(
                verifier.request_uri("/me", Some(proxy), odd).unwrap(),
                "https://example.test/api/me",
                "{host:?}"
            );
        }
        assert!(DpopVerifier::builder().build().unwrap_err().is_config());
        assert!(
            DpopVerifier::builder()
                .public_url("https://a.example")
                .algorithms([Algorithm::HS256])
                .build()
                .unwrap_err()
                .is_config()
        );
    }
}
