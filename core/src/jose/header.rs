//! The protected header, read strictly and without building a JSON tree: the members
//! jwtguard uses are borrowed from the decoded bytes, duplicates are refused, and members it
//! does not use are only checked for well-formedness.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::algorithm::Algorithm;
use serde_json::Value;

use super::json::{MemberNames, Name, StrictSkip, StrictValue};
use super::text::Text;
use crate::error::{Error, ErrorKind};

/// The protected header of a JWS, as far as jwtguard reads it: a view of the decoded header.
///
/// `jku`, `x5u`, `jwk` and `x5c` are never read: keys come only from the configured key set.
/// (Only a DPoP proof, a JWS of its own kind, has its `jwk` read.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwsHeader<'a> {
    /// `alg`, already checked against the allow-list.
    pub alg: Algorithm,
    /// `kid`, if present.
    pub kid: Option<&'a str>,
    /// `typ`, if present.
    pub typ: Option<&'a str>,
}

/// The header members jwtguard reads, as spans of the decoded header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderFields {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<Text>,
    pub(crate) typ: Option<Text>,
}

impl HeaderFields {
    /// The header, read from the `decoded` bytes the fields were captured from.
    pub(crate) fn view<'a>(&'a self, decoded: &'a [u8]) -> JwsHeader<'a> {
        JwsHeader {
            alg: self.alg,
            kid: self.kid.as_ref().map(|kid| kid.resolve(decoded)),
            typ: self.typ.as_ref().map(|typ| typ.resolve(decoded)),
        }
    }
}

/// The most members a header may have.
const MAX_MEMBERS: usize = 16;

/// A member's value as far as jwtguard cares: a string (borrowed when it has no escapes), or
/// something else.
enum Member<'de> {
    Text(Cow<'de, str>),
    Bool(bool),
    Other,
}

impl<'de> de::Deserialize<'de> for Member<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MemberVisitor)
    }
}

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Member<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Member<'de>, E> {
        Ok(Member::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Member<'de>, E> {
        Ok(Member::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Member<'de>, E> {
        Ok(Member::Bool(v))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }
    fn visit_unit<E>(self) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Member<'de>, A::Error> {
        StrictSkip.visit_seq(seq).map(|()| Member::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Member<'de>, A::Error> {
        StrictSkip.visit_map(map).map(|()| Member::Other)
    }
}

#[derive(Default)]
struct Fields<'de> {
    alg: Option<Member<'de>>,
    kid: Option<Member<'de>>,
    typ: Option<Member<'de>>,
    crit: bool,
    b64: Option<Member<'de>>,
    jwk: Option<Value>,
}

/// Reads a header. `read_jwk` is the DPoP proof's profile: its `jwk` member is read (strictly:
/// no duplicate members). An access token's header never has it read.
struct HeaderVisitor {
    read_jwk: bool,
}

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut names = MemberNames::new();
        let mut fields = Fields::default();
        let mut count = 0;
        while let Some(Name(name)) = map.next_key()? {
            if count == MAX_MEMBERS {
                return Err(de::Error::custom("too many header members"));
            }
            names.insert(&name)?;
            count += 1;
            match &*name {
                "alg" => fields.alg = Some(map.next_value()?),
                "kid" => fields.kid = Some(map.next_value()?),
                "typ" => fields.typ = Some(map.next_value()?),
                "b64" => fields.b64 = Some(map.next_value()?),
                "jwk" if self.read_jwk => fields.jwk = Some(map.next_value_seed(StrictValue)?),
                "crit" => {
                    fields.crit = true;
                    map.next_value::<IgnoredAny>()?;
                }
                _ => map.next_value_seed(StrictSkip)?,
            }
        }
        Ok(fields)
    }
}

fn text(
    base: &[u8],
    member: Option<Member<'_>>,
    name: &'static str,
) -> Result<Option<Text>, Error> {
    match member {
        None => Ok(None),
        Some(Member::Text(text)) => Ok(Some(Text::capture(base, text))),
        Some(_) => Err(Error::new(
            ErrorKind::Malformed,
            format!("header member {name} is not a string"),
        )),
    }
}

/// Parses and checks a decoded protected header: one JSON object, no duplicate members, a
/// string `alg` on `allowed`, no `crit`, no `b64` other than `true`. Its strings are kept as
/// spans of `bytes`.
pub(crate) fn parse_header(bytes: &[u8], allowed: &[Algorithm]) -> Result<HeaderFields, Error> {
    parse_fields(bytes, allowed, false).map(|(fields, _)| fields)
}

/// [`parse_header`] with the DPoP proof's profile (RFC 9449 §4.2): the same checks, and the
/// `jwk` member read as well (`None` when absent). Only DPoP proofs are read this way.
pub(crate) fn parse_proof_header(
    bytes: &[u8],
    allowed: &[Algorithm],
) -> Result<(HeaderFields, Option<Value>), Error> {
    parse_fields(bytes, allowed, true)
}

fn parse_fields(
    bytes: &[u8],
    allowed: &[Algorithm],
    read_jwk: bool,
) -> Result<(HeaderFields, Option<Value>), Error> {
    let malformed = || Error::new(ErrorKind::Malformed, "header is not a JSON object");
    // One UTF-8 check of the whole header is cheaper than one per string.
    let json = std::str::from_utf8(bytes).map_err(|_| malformed())?;
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let fields = deserializer
        .deserialize_map(HeaderVisitor { read_jwk })
        .map_err(|_| malformed())?;
    deserializer.end().map_err(|_| malformed())?;
    let alg = match fields.alg {
        Some(Member::Text(name)) => name
            .parse::<Algorithm>()
            .ok()
            .filter(|alg| allowed.contains(alg))
            .ok_or_else(|| Error::new(ErrorKind::AlgorithmNotAllowed, "alg is not allowed"))?,
        Some(_) => return Err(Error::new(ErrorKind::Malformed, "alg is not a string")),
        None => return Err(Error::new(ErrorKind::Malformed, "header has no alg")),
    };
    if fields.crit {
        return Err(Error::new(
            ErrorKind::UnsupportedHeader,
            "crit names extensions that are not understood",
        ));
    }
    if !matches!(fields.b64, None | Some(Member::Bool(true))) {
        return Err(Error::new(
            ErrorKind::UnsupportedHeader,
            "unencoded payloads (b64) are not accepted",
        ));
    }
    let header = HeaderFields {
        alg,
        kid: text(bytes, fields.kid, "kid")?,
        typ: text(bytes, fields.typ, "typ")?,
    };
    Ok((header, fields.jwk))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<HeaderFields, ErrorKind> {
        parse_header(json.as_bytes(), &Algorithm::DEFAULT_ALLOWED).map_err(|e| e.kind())
    }

    #[test]
    fn strict_headers() {
        let json =
            r#"{"alg":"RS256","kid":"k\u0031","typ":"at+jwt","x5t":"a","jwk":{"kty":"RSA"}}"#;
        let header = parse(json).unwrap();
        let header = header.view(json.as_bytes());
        assert_eq!(header.kid, Some("k1"));
        assert_eq!(header.typ, Some("at+jwt"));
        assert_eq!(
            parse(r#"{"alg":"RS256","alg":"RS256"}"#),
            Err(ErrorKind::Malformed)
        );
        assert_eq!(
            parse(r#"{"alg":"RS256","a\u006cg":"none"}"#),
            Err(ErrorKind::Malformed)
        );
        assert_eq!(
            parse(r#"{"alg":"RS256","jwk":{"a":1,"a":2}}"#),
            Err(ErrorKind::Malformed)
        );
        assert_eq!(parse(r#"{"alg":5}"#), Err(ErrorKind::Malformed));
        assert_eq!(parse(r#"{"kid":"x"}"#), Err(ErrorKind::Malformed));
        assert_eq!(
            parse(r#"{"alg":"none"}"#),
            Err(ErrorKind::AlgorithmNotAllowed)
        );
        assert_eq!(
            parse(r#"{"alg":"RS256","crit":[]}"#),
            Err(ErrorKind::UnsupportedHeader)
        );
        assert_eq!(
            parse(r#"{"alg":"RS256","b64":false}"#),
            Err(ErrorKind::UnsupportedHeader)
        );
        assert!(parse(r#"{"alg":"RS256","b64":true}"#).is_ok());
        assert_eq!(
            parse(r#"{"alg":"RS256","kid":7}"#),
            Err(ErrorKind::Malformed)
        );
        assert_eq!(parse(r#"["alg"]"#), Err(ErrorKind::Malformed));
        assert_eq!(parse(r#"{"alg":"RS256"} {}"#), Err(ErrorKind::Malformed));
        let many: String = (0..17).map(|i| format!(r#""m{i}":1,"#)).collect();
        assert_eq!(
            parse(&format!(r#"{{{many}"alg":"RS256"}}"#)),
            Err(ErrorKind::Malformed)
        );
    }
}
