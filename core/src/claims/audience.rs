//! The `aud` claim of a checked token, borrowed from wherever it was read.

use std::fmt;

use serde_json::Value;

use crate::jose::text::{TextList, TextListIter};

/// The audiences of a token's `aud` claim: one for a single string, each item of an array,
/// none when the claim is absent. Borrowed from the token; iterate with [`Audience::iter`].
///
/// ```
/// use jwtguard_core::claims::{ClaimsPolicy, check_claims};
///
/// let policy = ClaimsPolicy::new(["https://idp.example"], ["api"]);
/// let claims = serde_json::json!({"iss": "https://idp.example", "aud": ["x", "api"], "exp": 2_000});
/// let registered = check_claims(claims.as_object().unwrap(), &policy, 1_000).unwrap();
/// assert!(registered.aud.contains("api"));
/// assert_eq!(registered.aud.iter().collect::<Vec<_>>(), ["x", "api"]);
/// ```
#[derive(Clone, Copy, Default)]
pub struct Audience<'a>(Repr<'a>);

#[derive(Clone, Copy, Default)]
enum Repr<'a> {
    #[default]
    Absent,
    One(&'a str),
    /// Items already known to be strings.
    Values(&'a [Value]),
    /// Spans of a token's decoded bytes.
    Texts(&'a TextList, &'a [u8]),
}

impl<'a> Audience<'a> {
    pub(crate) fn one(audience: &'a str) -> Self {
        Self(Repr::One(audience))
    }

    pub(crate) fn values(items: &'a [Value]) -> Self {
        Self(Repr::Values(items))
    }

    pub(crate) fn texts(texts: &'a TextList, base: &'a [u8]) -> Self {
        Self(Repr::Texts(texts, base))
    }

    /// The audiences, in the order of the claim.
    pub fn iter(&self) -> AudienceIter<'a> {
        AudienceIter(match self.0 {
            Repr::Absent => IterRepr::One(None),
            Repr::One(audience) => IterRepr::One(Some(audience)),
            Repr::Values(items) => IterRepr::Values(items.iter()),
            Repr::Texts(texts, base) => IterRepr::Texts(texts.iter(), base),
        })
    }

    /// Whether `audience` is one of them.
    pub fn contains(&self, audience: &str) -> bool {
        self.iter().any(|a| a == audience)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        match self.0 {
            Repr::Absent => 0,
            Repr::One(_) => 1,
            Repr::Values(items) => items.len(),
            Repr::Texts(texts, _) => texts.len(),
        }
    }

    /// Whether there are none (`aud` absent).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> IntoIterator for Audience<'a> {
    type Item = &'a str;
    type IntoIter = AudienceIter<'a>;

    fn into_iter(self) -> AudienceIter<'a> {
        self.iter()
    }
}

impl PartialEq for Audience<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Audience<'_> {}

impl fmt::Debug for Audience<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The iterator of [`Audience::iter`].
#[derive(Debug, Clone)]
pub struct AudienceIter<'a>(IterRepr<'a>);

#[derive(Debug, Clone)]
enum IterRepr<'a> {
    One(Option<&'a str>),
    Values(std::slice::Iter<'a, Value>),
    Texts(TextListIter<'a>, &'a [u8]),
}

impl<'a> Iterator for AudienceIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match &mut self.0 {
            IterRepr::One(audience) => audience.take(),
            IterRepr::Values(items) => items.next().map(|item| item.as_str().unwrap_or_default()),
            IterRepr::Texts(texts, base) => texts.next().map(|text| text.resolve(base)),
        }
    }
}
