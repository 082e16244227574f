//! The protected headers of tokens whose signature and claims checked out, so that a token
//! whose header is byte for byte one of them takes the decoded header and its parsed members
//! from here instead of decoding and parsing it again. An IdP signs with few keys, so nearly
//! every token's header is one already seen.
//!
//! Only headers of signed, valid tokens get in (a stream of forged tokens can't churn it), the
//! match is on the exact encoded text, and the result is what parsing that text gives, since
//! the parsing depends on nothing else but the validator's fixed algorithm list.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::header::HeaderFields;
use super::text::Text;

/// How many headers are kept; the oldest goes first.
const CAPACITY: usize = 16;

/// See the module documentation.
pub(crate) struct HeaderCache {
    entries: ArcSwap<Vec<Arc<Entry>>>,
}

struct Entry {
    encoded: Box<str>,
    decoded: Box<[u8]>,
    fields: HeaderFields,
}

impl HeaderCache {
    pub(crate) fn new() -> Self {
        Self {
            entries: ArcSwap::from_pointee(Vec::new()),
        }
    }

    /// When `encoded` is a known header: appends its decoded bytes to `out` and returns its
    /// members, as spans of those bytes.
    pub(crate) fn take(&self, encoded: &str, out: &mut Vec<u8>) -> Option<HeaderFields> {
        let entries = self.entries.load();
        let entry = entries.iter().find(|entry| *entry.encoded == *encoded)?;
        out.extend_from_slice(&entry.decoded);
        Some(entry.fields.clone())
    }

    /// Remembers the header of a token whose signature and claims checked out: its encoded
    /// text, the decoded bytes (which started the token's buffer) and its members. Headers with
    /// escaped strings (members that are not spans of the bytes) are left out.
    pub(crate) fn remember(&self, encoded: &str, decoded: &[u8], fields: &HeaderFields) {
        let spans_only = [&fields.kid, &fields.typ]
            .into_iter()
            .flatten()
            .all(|text| matches!(text, Text::Span { .. }));
        let current = self.entries.load();
        if !spans_only || current.iter().any(|entry| *entry.encoded == *encoded) {
            return;
        }
        let entry = Arc::new(Entry {
            encoded: encoded.into(),
            decoded: decoded.into(),
            fields: fields.clone(),
        });
        let skip = (current.len() + 1).saturating_sub(CAPACITY);
        let next = current.iter().skip(skip).cloned().chain([entry]).collect();
        // A racing remember may be lost; the header then comes back the next time.
        self.entries.store(Arc::new(next));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.load().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::algorithm::Algorithm;
    use crate::jose::header::parse_header;

    fn parsed(json: &str) -> HeaderFields {
        parse_header(json.as_bytes(), &Algorithm::DEFAULT_ALLOWED).unwrap()
    }

    #[test]
    fn gives_back_the_same_bytes_and_members() {
        let cache = HeaderCache::new();
        let json = r#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#;
        let fields = parsed(json);
        assert!(cache.take("e30", &mut Vec::new()).is_none());
        cache.remember("e30", json.as_bytes(), &fields);
        let mut out = Vec::new();
        let taken = cache.take("e30", &mut out).unwrap();
        assert_eq!(out, json.as_bytes());
        assert_eq!(taken, fields);
        assert_eq!(taken.view(&out).kid, Some("k1"));
        assert!(cache.take("e31", &mut out).is_none());
    }

    #[test]
    fn leaves_out_escaped_members_and_keeps_the_newest() {
        let cache = HeaderCache::new();
        let escaped = r#"{"alg":"RS256","kid":"k\u0031"}"#;
        cache.remember("x", escaped.as_bytes(), &parsed(escaped));
        assert_eq!(cache.len(), 0);
        let json = r#"{"alg":"RS256"}"#;
        for i in 0..CAPACITY + 3 {
            cache.remember(&i.to_string(), json.as_bytes(), &parsed(json));
            cache.remember(&i.to_string(), json.as_bytes(), &parsed(json));
        }
        assert_eq!(cache.len(), CAPACITY);
        assert!(cache.take("2", &mut Vec::new()).is_none());
        assert!(cache.take("3", &mut Vec::new()).is_some());
        assert!(
            cache
                .take(&(CAPACITY + 2).to_string(), &mut Vec::new())
                .is_some()
        );
    }
}
