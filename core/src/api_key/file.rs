//! API keys read from a JSON file at start-up.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};

use super::digest::KeyDigest;
use super::principal::{ApiKeyPrincipal, is_scope_token};
use super::store::ApiKeyStore;
use crate::defaults;
use crate::error::{Error, ErrorKind};
use crate::future::BoxFuture;

/// API keys read once from a JSON file, when the store is opened (at start-up): the file is
/// not read again per request, nor watched. To change the keys, open the file again and build
/// a new [`ApiKeys`](super::ApiKeys) on the new store.
///
/// The file is an array of entries, each the lower-case hex SHA-256 of a whole key string and
/// the principal the key stands for; `roles` and `scopes` may be left out (empty):
///
/// ```json
/// [
///   {"sha256": "<64 lower-case hex characters>", "sub": "batch-job", "roles": ["admin"], "scopes": ["write"]},
///   {"sha256": "<64 lower-case hex characters>", "sub": "reporting"}
/// ]
/// ```
///
/// The digest of a key can be had with `printf %s "$KEY" | sha256sum` (no trailing newline)
/// or [`KeyDigest::to_hex`]. The file holds no key, only digests, but keep it as closed as a
/// key list anyway: who can write to it can add keys.
///
/// Strict: an unknown field, a field given twice, a digest that is not exactly 64 lower-case
/// hex characters, an empty `sub`, role or scope, or two entries with the same digest make
/// [`open`](Self::open) fail with an [`ErrorKind::Config`] error naming the entry (by its
/// index, from 0) and never repeating a digest in full.
///
/// ```
/// use jwtguard_core::api_key::{FileApiKeyStore, KeyDigest};
///
/// let json = format!(
///     r#"[{{"sha256": "{}", "sub": "batch-job", "roles": ["admin"]}}]"#,
///     KeyDigest::of("s3cr3t").to_hex()
/// );
/// let store = FileApiKeyStore::from_json(&json).unwrap();
/// assert_eq!(store.len(), 1);
///
/// let err = FileApiKeyStore::from_json(r#"[{"sha256": "00", "sub": "x"}]"#).unwrap_err();
/// assert!(err.is_config());
/// assert!(err.to_string().contains("entry 0"));
/// ```
pub struct FileApiKeyStore {
    path: Option<PathBuf>,
    keys: HashMap<KeyDigest, ApiKeyPrincipal>,
}

impl FileApiKeyStore {
    /// Reads the keys from the JSON file at `path`, once (with blocking file I/O: call it at
    /// start-up, or from a blocking task). A file that can't be read or is not valid is an
    /// [`ErrorKind::Config`] error.
    ///
    /// A file over [`MAX_API_KEY_FILE_SIZE`](defaults::MAX_API_KEY_FILE_SIZE) (16 MiB) is
    /// refused: that is over 100 000 keys, past what a file is the right store for.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        use std::io::Read as _;
        let path = path.as_ref();
        let unreadable = |err: std::io::Error| {
            Error::new(
                ErrorKind::Config,
                format!("the API key file {} can't be read", path.display()),
            )
            .with_source(err)
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .map_err(unreadable)?
            .take(defaults::MAX_API_KEY_FILE_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if bytes.len() as u64 > defaults::MAX_API_KEY_FILE_SIZE {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "the API key file {} is larger than {} bytes",
                    path.display(),
                    defaults::MAX_API_KEY_FILE_SIZE
                ),
            ));
        }
        let json = String::from_utf8(bytes).map_err(|err| {
            Error::new(
                ErrorKind::Config,
                format!("the API key file {} is not UTF-8", path.display()),
            )
            .with_source(err)
        })?;
        let origin = format!("the API key file {}", path.display());
        let keys = parse(&json, &origin)?;
        Ok(Self {
            path: Some(path.to_owned()),
            keys,
        })
    }

    /// Reads the keys from `json`, in the format of the file [`open`](Self::open) reads (for
    /// keys kept elsewhere than in a file, such as a secret store).
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let keys = parse(json, "the API key list")?;
        Ok(Self { path: None, keys })
    }

    /// How many keys the store holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl ApiKeyStore for FileApiKeyStore {
    fn lookup<'a>(
        &'a self,
        digest: &'a KeyDigest,
    ) -> BoxFuture<'a, Result<Option<ApiKeyPrincipal>, Error>> {
        Box::pin(std::future::ready(Ok(self.keys.get(digest).cloned())))
    }
}

impl fmt::Debug for FileApiKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileApiKeyStore")
            .field("path", &self.path)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// One entry of the file, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an API key entry (an object)")]
struct FileEntry {
    sha256: String,
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

/// Reads the entries of `json` and checks them; `origin` names the input in error messages.
fn parse(json: &str, origin: &str) -> Result<HashMap<KeyDigest, ApiKeyPrincipal>, Error> {
    let at = Cell::new(None);
    let mut reader = serde_json::Deserializer::from_str(json);
    let entries = Entries { at: &at }
        .deserialize(&mut reader)
        .and_then(|entries| reader.end().map(|()| entries))
        .map_err(|err| {
            let place = match at.get() {
                Some(index) => format!("entry {index} (line {})", err.line()),
                None => format!("line {}", err.line()),
            };
            let message = format!("{origin}: {place}: {}", describe(&err));
            Error::new(ErrorKind::Config, message)
        })?;

    let mut keys = HashMap::with_capacity(entries.len());
    let mut index_of = HashMap::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let bad = |what: String| {
            Error::new(
                ErrorKind::Config,
                format!("{origin}: entry {index}: {what}"),
            )
        };
        let digest = KeyDigest::from_hex(&entry.sha256).map_err(|_| {
            bad(format!(
                "`sha256` is not 64 lower-case hex characters (it has {} characters)",
                entry.sha256.chars().count()
            ))
        })?;
        if entry.sub.is_empty() {
            return Err(bad("`sub` is empty".into()));
        }
        if entry.roles.iter().any(String::is_empty) {
            return Err(bad("a role is empty".into()));
        }
        if !entry.scopes.iter().all(|scope| is_scope_token(scope)) {
            return Err(bad(
                "a scope is empty or has a space, `\"`, `\\` or a character outside ASCII".into(),
            ));
        }
        if let Some(first) = index_of.insert(digest, index) {
            return Err(bad(format!(
                "the same `sha256` ({}) as entry {first}",
                digest.short()
            )));
        }
        let principal = ApiKeyPrincipal {
            sub: entry.sub,
            roles: entry.roles,
            scopes: entry.scopes,
        };
        keys.insert(digest, principal);
    }
    Ok(keys)
}

/// What serde says went wrong, without the position (given apart) and without any string
/// value: serde names a misplaced string by its value (`invalid type: string "…", expected
/// …`), and a key or a digest pasted in the wrong place must not be repeated.
fn describe(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    let message = text.strip_suffix(&position).unwrap_or(&text);
    // A key pasted where a member name goes must not come back in the message.
    if message.starts_with("unknown field") {
        return "an unknown field".to_owned();
    }
    match (message.find("string \""), message.rfind("\", expected")) {
        (Some(start), Some(end)) if end > start => {
            format!("{}a string{}", &message[..start], &message[end + 1..])
        }
        _ if message.contains('"') => "a value of the wrong type".to_owned(),
        _ => message.to_owned(),
    }
}

/// The array of entries, read one by one so that an error can name the entry it is in:
/// `at` holds the index of the entry being read, or `None` outside the array.
struct Entries<'c> {
    at: &'c Cell<Option<usize>>,
}

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = Vec<FileEntry>;

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        reader.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = Vec<FileEntry>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of API key entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        loop {
            self.at.set(Some(entries.len()));
            match seq.next_element::<FileEntry>()? {
                Some(entry) => entries.push(entry),
                None => break,
            }
        }
        self.at.set(None);
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A file under the temporary directory, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn with(contents: &str) -> Self {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let name = format!(
                "jwtguard-api-keys-{}-{}.json",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, contents).unwrap();
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn a_file_over_the_size_cap_is_refused() {
        let mut json = String::from("[");
        json.push_str(&" ".repeat(defaults::MAX_API_KEY_FILE_SIZE as usize));
        json.push(']');
        let err = open(&json).unwrap_err();
        assert!(err.is_config(), "{err:?}");
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    fn hex(key: &str) -> String {
        KeyDigest::of(key).to_hex()
    }

    fn open(contents: &str) -> Result<FileApiKeyStore, Error> {
        let file = TempFile::with(contents);
        FileApiKeyStore::open(&file.0)
    }

    /// The error for `contents`, checked to be a Config error that repeats no digest.
    fn refused(contents: &str) -> String {
        let err = open(contents).unwrap_err();
        assert!(err.is_config(), "{err:?}");
        assert_eq!(err.status(), 500);
        let shown = format!("{err} {err:?}");
        for key in ["key-1", "key-2"] {
            assert!(!shown.contains(&hex(key)[..SHOWN + 1]), "{shown}");
            assert!(!shown.contains(key), "{shown}");
        }
        err.to_string()
    }

    const SHOWN: usize = crate::api_key::digest::SHOWN_HEX;

    #[tokio::test]
    async fn a_good_file_is_read() {
        let contents = format!(
            r#"[
                {{"sha256": "{}", "sub": "batch-job", "roles": ["admin"], "scopes": ["write"]}},
                {{"sha256": "{}", "sub": "reporting"}}
            ]"#,
            hex("key-1"),
            hex("key-2")
        );
        let store = open(&contents).unwrap();
        assert_eq!(store.len(), 2);
        let found = store
            .lookup(&KeyDigest::of("key-1"))
            .await
            .unwrap()
            .unwrap();
        let expected = ApiKeyPrincipal::new("batch-job")
            .with_roles(["admin"])
            .with_scopes(["write"]);
        assert_eq!(found, expected);
        let found = store
            .lookup(&KeyDigest::of("key-2"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, ApiKeyPrincipal::new("reporting"));
        assert!(
            store
                .lookup(&KeyDigest::of("key-3"))
                .await
                .unwrap()
                .is_none()
        );

        let shown = format!("{store:?}");
        assert!(shown.contains("keys: 2"), "{shown}");
        assert!(!shown.contains(&hex("key-1")[..SHOWN]), "{shown}");

        assert!(open("[]").unwrap().is_empty());
    }

    #[test]
    fn a_missing_file_is_a_config_error() {
        let path = std::env::temp_dir().join("jwtguard-api-keys-that-does-not-exist.json");
        let err = FileApiKeyStore::open(&path).unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains("can't be read"), "{err}");
    }

    #[test]
    fn a_scope_that_would_read_as_two_is_refused() {
        for scope in ["read write", "", "a\\b"] {
            let contents = format!(
                r#"[{{"sha256": "{}", "sub": "a", "scopes": ["read", {}]}}]"#,
                hex("key-1"),
                serde_json::Value::from(scope)
            );
            let message = refused(&contents);
            assert!(message.contains("entry 0: a scope"), "{message}");
        }
    }

    #[test]
    fn bad_hex_is_refused_without_echo() {
        let good = hex("key-1");
        let cases = [
            good.to_uppercase(),
            good[..63].to_owned(),
            format!("{good}0"),
            format!("{}g", &good[..63]),
            // The key itself, pasted in place of its digest.
            "key-1".to_owned(),
        ];
        for sha256 in cases {
            let contents = format!(
                r#"[{{"sha256": "{}", "sub": "a"}}, {{"sha256": "{sha256}", "sub": "b"}}]"#,
                hex("key-2")
            );
            let message = refused(&contents);
            assert!(message.contains("entry 1"), "{message}");
            assert!(message.contains("64 lower-case hex"), "{message}");
        }
    }

    #[test]
    fn duplicate_digests_are_refused() {
        let contents = format!(
            r#"[{{"sha256": "{0}", "sub": "a"}}, {{"sha256": "{1}", "sub": "b"}}, {{"sha256": "{0}", "sub": "c"}}]"#,
            hex("key-1"),
            hex("key-2")
        );
        let message = refused(&contents);
        assert!(message.contains("entry 2"), "{message}");
        assert!(message.contains("entry 0"), "{message}");
        assert!(message.contains(&hex("key-1")[..SHOWN]), "{message}");
    }

    #[test]
    fn unknown_and_repeated_fields_are_refused() {
        let contents = format!(
            r#"[{{"sha256": "{}", "sub": "a"}}, {{"sha256": "{}", "sub": "b", "role": ["admin"]}}]"#,
            hex("key-1"),
            hex("key-2")
        );
        let message = refused(&contents);
        assert!(message.contains("entry 1"), "{message}");
        assert!(message.contains("an unknown field"), "{message}");
        assert!(
            !message.contains("role"),
            "a member name is never echoed: {message}"
        );

        // A key pasted as a member name does not come back in the message.
        let message = refused(r#"[{"sk_live_SUPERSECRET": "batch-job"}]"#);
        assert!(!message.contains("SUPERSECRET"), "{message}");

        let contents = format!(
            r#"[{{"sha256": "{}", "sub": "a", "sub": "b"}}]"#,
            hex("key-1")
        );
        let message = refused(&contents);
        assert!(message.contains("entry 0"), "{message}");
        assert!(message.contains("duplicate field `sub`"), "{message}");
    }

    #[test]
    fn other_bad_input_is_refused_with_its_entry() {
        let key = hex("key-1");
        let cases = [
            (format!(r#"[{{"sha256": "{key}"}}]"#), "missing field `sub`"),
            (
                format!(r#"[{{"sha256": "{key}", "sub": ""}}]"#),
                "`sub` is empty",
            ),
            (
                format!(r#"[{{"sha256": "{key}", "sub": "a", "roles": [""]}}]"#),
                "a role is empty",
            ),
            (
                format!(r#"[{{"sha256": "{key}", "sub": "a", "scopes": "write"}}]"#),
                "invalid type",
            ),
            // A key or digest where an entry should be: its value is not repeated.
            (
                format!(r#"["{key}"]"#),
                "invalid type: a string, expected an API key entry",
            ),
            (r#"["key-1"]"#.to_owned(), "invalid type"),
        ];
        for (contents, expected) in cases {
            let message = refused(&contents);
            assert!(message.contains("entry 0"), "{message}");
            assert!(message.contains(expected), "{message}");
        }
        // A missing `]`: the file ends where entry 1 would begin.
        let message = refused(&format!(r#"[{{"sha256": "{key}", "sub": "a"}}"#));
        assert!(message.contains("entry 1"), "{message}");
        assert!(message.contains("EOF"), "{message}");
        let message = refused(r#"{"sha256": "x", "sub": "a"}"#);
        assert!(message.contains("an array of API key entries"), "{message}");
        let message = refused("[] []");
        assert!(message.contains("trailing characters"), "{message}");
        assert!(!message.contains("entry"), "{message}");
    }
}
