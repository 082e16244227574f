//! A token's payload read in one pass without building a JSON tree: the whole object is checked
//! for well-formedness and duplicate member names at any depth, and only the registered claims
//! are kept, as spans of the decoded bytes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::audience::Audience;
use super::registered::{Field, RawClaims, RegisteredClaims, date_in_range};
use crate::error::{Error, ErrorKind};
use crate::jose::json::{MemberNames, Name, StrictSkip};
use crate::jose::text::{Text, TextList};

/// The registered claims of a payload, as read (see [`scan_claims`]).
#[derive(Debug, Clone)]
pub(crate) struct ScannedClaims {
    iss: Field<Text>,
    sub: Field<Text>,
    jti: Field<Text>,
    aud: Field<TextList>,
    exp: Field<u64>,
    nbf: Field<u64>,
    iat: Field<u64>,
    /// Whether the payload has a `cnf` member (RFC 7800): a token bound to a key.
    cnf: bool,
}

impl ScannedClaims {
    /// Whether the payload has a `cnf` member.
    pub(crate) fn has_cnf(&self) -> bool {
        self.cnf
    }

    /// The claims, read from the `base` they were scanned from.
    pub(crate) fn raw<'a>(&'a self, base: &'a [u8]) -> RawClaims<'a> {
        let text = |field: &'a Field<Text>| field.as_ref().map(|text| text.resolve(base));
        RawClaims {
            iss: text(&self.iss),
            sub: text(&self.sub),
            jti: text(&self.jti),
            aud: self.aud.as_ref().map(|texts| Audience::texts(texts, base)),
            exp: self.exp.clone(),
            nbf: self.nbf.clone(),
            iat: self.iat.clone(),
        }
    }

    /// The claims of a token that passed [`check_raw`](super::registered::check_raw).
    pub(crate) fn checked<'a>(&'a self, base: &'a [u8]) -> RegisteredClaims<'a> {
        let raw = self.raw(base);
        RegisteredClaims {
            iss: raw.iss.present().unwrap_or_default(),
            sub: raw.sub.present(),
            aud: raw.aud.present().unwrap_or_default(),
            exp: raw.exp.present(),
            nbf: raw.nbf.present(),
            iat: raw.iat.present(),
            jti: raw.jti.present(),
        }
    }
}

/// Reads the payload `base[start..end]`: one JSON object without duplicate member names at any
/// depth (else [`ErrorKind::Malformed`]). Claims of the wrong type are kept as such, to be
/// judged once the signature is known to be good.
pub(crate) fn scan_claims(base: &[u8], start: usize, end: usize) -> Result<ScannedClaims, Error> {
    let malformed = || Error::new(ErrorKind::Malformed, "payload is not a JSON object");
    let payload = base.get(start..end).ok_or_else(malformed)?;
    // One UTF-8 check of the whole payload is cheaper than one per string.
    let payload = std::str::from_utf8(payload).map_err(|_| malformed())?;
    let mut deserializer = serde_json::Deserializer::from_str(payload);
    let claims = deserializer
        .deserialize_map(PayloadVisitor { base })
        .map_err(|_| malformed())?;
    deserializer.end().map_err(|_| malformed())?;
    Ok(claims)
}

struct PayloadVisitor<'b> {
    base: &'b [u8],
}

impl<'de> Visitor<'de> for PayloadVisitor<'_> {
    type Value = ScannedClaims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ScannedClaims, A::Error> {
        let mut claims = ScannedClaims {
            iss: Field::Absent,
            sub: Field::Absent,
            jti: Field::Absent,
            aud: Field::Absent,
            exp: Field::Absent,
            nbf: Field::Absent,
            iat: Field::Absent,
            cnf: false,
        };
        let mut names = MemberNames::new();
        let value = ClaimValue { base: self.base };
        while let Some(Name(name)) = map.next_key()? {
            names.insert(&name)?;
            match &*name {
                "iss" => claims.iss = map.next_value_seed(value)?.string(),
                "sub" => claims.sub = map.next_value_seed(value)?.string(),
                "jti" => claims.jti = map.next_value_seed(value)?.string(),
                "aud" => claims.aud = map.next_value_seed(value)?.audience(),
                "exp" => claims.exp = map.next_value_seed(value)?.date(),
                "nbf" => claims.nbf = map.next_value_seed(value)?.date(),
                "iat" => claims.iat = map.next_value_seed(value)?.date(),
                "cnf" => {
                    claims.cnf = true;
                    map.next_value_seed(StrictSkip)?;
                }
                _ => map.next_value_seed(StrictSkip)?,
            }
        }
        Ok(claims)
    }
}

/// The shape of a registered claim's value: as much as its checks need.
enum Shape {
    Text(Text),
    Unsigned(u64),
    Negative,
    Float,
    Array { texts: TextList, only_texts: bool },
    Other,
}

impl Shape {
    fn string(self) -> Field<Text> {
        match self {
            Shape::Text(text) => Field::Present(text),
            _ => Field::Invalid("is not a string"),
        }
    }

    fn date(self) -> Field<u64> {
        match self {
            Shape::Unsigned(value) => date_in_range(value),
            Shape::Negative => Field::Invalid("is negative"),
            Shape::Float => Field::Invalid("is not an integer"),
            _ => Field::Invalid("is not a number"),
        }
    }

    fn audience(self) -> Field<TextList> {
        match self {
            Shape::Text(text) => {
                let mut texts = TextList::new();
                texts.push(text);
                Field::Present(texts)
            }
            // Non-strings first: `[null]` holds a non-string (and no text), it is not empty.
            Shape::Array {
                only_texts: false, ..
            } => Field::Invalid("holds a non-string"),
            Shape::Array { texts, .. } if texts.len() == 0 => Field::Invalid("is an empty array"),
            Shape::Array { texts, .. } => Field::Present(texts),
            _ => Field::Invalid("is neither a string nor an array of strings"),
        }
    }
}

/// Reads a registered claim's value into its [`Shape`], strings as spans of `base`.
#[derive(Clone, Copy)]
struct ClaimValue<'b> {
    base: &'b [u8],
}

impl<'de> DeserializeSeed<'de> for ClaimValue<'_> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Shape, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ClaimValue<'_> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Shape, E> {
        Ok(Shape::Text(Text::capture(self.base, Cow::Borrowed(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Shape, E> {
        Ok(Shape::Text(Text::Owned(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Shape, E> {
        Ok(Shape::Unsigned(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Shape, E> {
        Ok(u64::try_from(v).map_or(Shape::Negative, Shape::Unsigned))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Float)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Shape, A::Error> {
        StrictSkip.visit_map(map).map(|()| Shape::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut texts = TextList::new();
        let mut only_texts = true;
        while let Some(item) = seq.next_element_seed(self)? {
            match item {
                Shape::Text(text) => texts.push(text),
                _ => only_texts = false,
            }
        }
        Ok(Shape::Array { texts, only_texts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::registered::{ClaimsPolicy, check_claims, check_raw};
    use serde_json::json;

    /// The scan and the claims-map reading judge every claim alike.
    #[test]
    fn agrees_with_the_claims_map() {
        let policy = ClaimsPolicy::new(["https://idp"], ["api"]);
        let values = [
            json!("https://idp"),
            json!("api"),
            json!(["x", "api"]),
            json!([]),
            json!(["api", 7]),
            json!([null]),
            json!(1_700_000_100u64),
            json!(-5),
            json!(1.5),
            json!(1e30),
            json!(u64::MAX),
            json!(null),
            json!({"a": 1}),
            json!(true),
        ];
        for name in ["iss", "sub", "jti", "aud", "exp", "nbf", "iat"] {
            for value in &values {
                let mut claims =
                    json!({"iss": "https://idp", "aud": "api", "exp": 1_700_000_100u64});
                claims[name] = value.clone();
                let bytes = serde_json::to_vec(&claims).unwrap();
                let scanned = scan_claims(&bytes, 0, bytes.len()).unwrap();
                let from_scan = check_raw(scanned.raw(&bytes), &policy, 1_700_000_000, |_| false)
                    .map_err(|e| (e.kind(), e.to_string()));
                let from_map = check_claims(claims.as_object().unwrap(), &policy, 1_700_000_000)
                    .map_err(|e| (e.kind(), e.to_string()));
                assert_eq!(from_scan, from_map, "{name}={value}");
            }
        }
    }

    #[test]
    fn escaped_strings_are_read_decoded() {
        let bytes = br#"{"iss":"https:\/\/idp","aud":["a\u0070i"],"sub":"s"}"#;
        let scanned = scan_claims(bytes, 0, bytes.len()).unwrap();
        let claims = scanned.checked(bytes);
        assert_eq!(claims.iss, "https://idp");
        assert_eq!(claims.aud.iter().collect::<Vec<_>>(), ["api"]);
        assert_eq!(claims.sub, Some("s"));
    }

    #[test]
    fn refuses_what_is_not_one_strict_object() {
        for payload in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"aud":[{"b":1,"b":2}]}"#,
            br#"{"x":{"b":1,"b":2}}"#,
            br#"{"iss":"a","iss":"a"}"#,
            br#"{"a":1} x"#,
            b"[1]",
            b"",
            b"\xff",
        ] {
            assert!(
                scan_claims(payload, 0, payload.len()).is_err(),
                "{payload:?}"
            );
        }
    }

    #[test]
    fn required_claims_beyond_the_registered_ones_are_found_both_ways() {
        // A claim that is not a registered one is looked up in the claim set, both ways a
        // claim set is read.
        const NOW: u64 = 1_700_000_000;
        let mut policy = ClaimsPolicy::new(["https://idp"], ["api"]);
        policy.required.push("client_id".into());
        let base = json!({"iss": "https://idp", "aud": "api", "exp": NOW + 300, "iat": NOW});
        let mut with_client = base.clone();
        with_client["client_id"] = json!("web");
        for (claims, present) in [(base, false), (with_client, true)] {
            let from_map = check_claims(claims.as_object().unwrap(), &policy, NOW);
            let bytes = serde_json::to_vec(&claims).unwrap();
            let scanned = scan_claims(&bytes, 0, bytes.len()).unwrap();
            let from_scan = check_raw(scanned.raw(&bytes), &policy, NOW, |name| {
                crate::jose::json::has_member(&bytes, name)
            });
            for result in [from_map.map(|_| ()), from_scan.map(|_| ())] {
                match present {
                    true => assert!(result.is_ok()),
                    false => assert_eq!(result.unwrap_err().kind(), ErrorKind::MissingClaim),
                }
            }
        }
    }

    mod generated {
        use super::*;
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        /// Any JSON value, a few levels deep, with the numbers that matter for dates.
        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<u64>().prop_map(Value::from),
                (0u64..4_000_000_000).prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(Value::from),
                "[ -~]{0,12}".prop_map(Value::from),
                prop_oneof![Just("https://idp"), Just("api"), Just("x\\u0000\\\"")]
                    .prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec(("[a-z]{1,3}", inner), 0..4)
                        .prop_map(|members| Value::Object(members.into_iter().collect())),
                ]
            })
        }

        /// A claim set: registered claims (or not) with any values, and other members.
        fn claims() -> impl Strategy<Value = Map<String, Value>> {
            let name = prop_oneof![
                Just("iss"),
                Just("sub"),
                Just("jti"),
                Just("aud"),
                Just("exp"),
                Just("nbf"),
                Just("iat"),
                Just("scope"),
                Just("client_id"),
            ];
            prop::collection::vec((name, value()), 0..9).prop_map(|members| {
                members
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect()
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]

            /// The one-pass scan and the full serde parse of the same claim set reach the same
            /// verdict, with the same error, whatever the members hold.
            #[test]
            fn the_scan_and_the_serde_parse_agree(claims in claims(), required in any::<bool>()) {
                let mut policy = ClaimsPolicy::new(["https://idp"], ["api"]);
                if required {
                    policy.required.push("client_id".into());
                }
                let bytes = serde_json::to_vec(&claims).unwrap();
                let scanned = scan_claims(&bytes, 0, bytes.len()).expect("a JSON object");
                let from_scan = check_raw(scanned.raw(&bytes), &policy, 1_700_000_000, |name| {
                    crate::jose::json::has_member(&bytes, name)
                })
                .map(|r| (r.iss.to_owned(), r.exp))
                .map_err(|e| (e.kind(), e.to_string()));
                let from_map = check_claims(&claims, &policy, 1_700_000_000)
                    .map(|r| (r.iss.to_owned(), r.exp))
                    .map_err(|e| (e.kind(), e.to_string()));
                prop_assert_eq!(from_scan, from_map);
            }
        }
    }
}
