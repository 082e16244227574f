//! Strict JSON for JOSE headers and claim sets: one object, no duplicate member names at any
//! depth (RFC 7515 §5.2 and RFC 7519 §7.2 allow rejecting them, and parsers that disagree on
//! which duplicate wins are a known source of forgeries).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes` as a JSON object, refusing duplicate member names anywhere inside it.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err("not a JSON object".into()),
    }
}

/// Deserializes any JSON value, refusing duplicate member names at any depth.
pub(crate) struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let value = access.next_value_seed(StrictValue)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// Whether the object in `bytes` has a top-level member `name`; `false` when `bytes` is not an
/// object.
pub(crate) fn has_member(bytes: &[u8], name: &str) -> bool {
    struct Find<'n>(&'n str);
    impl<'de> Visitor<'de> for Find<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut found = false;
            while let Some(Name(key)) = map.next_key()? {
                found |= key == self.0;
                map.next_value::<IgnoredAny>()?;
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.deserialize_map(Find(name)).unwrap_or(false)
}

/// A member name, borrowed when it has no escapes.
pub(crate) struct Name<'de>(pub(crate) Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// How many member names an object may have before [`MemberNames`] allocates.
const INLINE_NAMES: usize = 16;

/// The member names of one object seen so far, to refuse duplicates. The first names (without
/// escapes) are kept inline and compared one by one; the rest go to a sorted set, so a huge
/// object costs `n log n`, not `n²`.
pub(crate) struct MemberNames<'de> {
    inline: [&'de str; INLINE_NAMES],
    len: usize,
    rest: BTreeSet<Cow<'de, str>>,
}

impl<'de> MemberNames<'de> {
    pub(crate) fn new() -> Self {
        Self {
            inline: [""; INLINE_NAMES],
            len: 0,
            rest: BTreeSet::new(),
        }
    }

    /// Records `name`; an error when it was seen before.
    #[allow(
        clippy::ptr_arg,
        reason = "a borrowed name is kept as the borrow, an owned one is copied"
    )]
    pub(crate) fn insert<E: de::Error>(&mut self, name: &Cow<'de, str>) -> Result<(), E> {
        let duplicate = || E::custom("duplicate member name");
        let first = name.as_bytes().first();
        if self.inline[..self.len]
            .iter()
            .any(|seen| seen.as_bytes().first() == first && *seen == &**name)
            || self.rest.contains(&**name)
        {
            return Err(duplicate());
        }
        match name {
            Cow::Borrowed(borrowed) if self.len < INLINE_NAMES => {
                self.inline[self.len] = borrowed;
                self.len += 1;
            }
            _ => {
                self.rest.insert(name.clone());
            }
        }
        Ok(())
    }
}

/// Walks any JSON value without keeping it, refusing duplicate member names at any depth.
/// Allocates only for member names with escapes and for objects of more than 16 members.
pub(crate) struct StrictSkip;

impl<'de> DeserializeSeed<'de> for StrictSkip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSkip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(StrictSkip)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut names = MemberNames::new();
        while let Some(Name(name)) = map.next_key()? {
            names.insert(&name)?;
            map.next_value_seed(StrictSkip)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_objects() {
        let map = parse_object(br#"{"a":1,"b":{"c":[1,"x",null,true,1.5]}}"#).unwrap();
        assert_eq!(map["b"]["c"][1], "x");
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert!(parse_object(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_object(br#"{"a":{"b":1,"b":1}}"#).is_err());
        assert!(parse_object(br#"{"a":[{"b":1,"b":2}]}"#).is_err());
    }

    fn skips(json: &str) -> bool {
        let mut de = serde_json::Deserializer::from_str(json);
        StrictSkip.deserialize(&mut de).is_ok() && de.end().is_ok()
    }

    #[test]
    fn the_skipper_accepts_what_the_tree_parser_accepts() {
        let many: String = (0..100).map(|i| format!(r#""m{i}":{i},"#)).collect();
        let big = format!(r#"{{{many}"a\u0062":1}}"#);
        for json in [
            r#"{"a":1,"b":{"c":[1,"x",null,true,1.5]}}"#,
            r#"{"a\u0062":1,"ac":2}"#,
            r#"{"a":[{"b":1},{"b":2}]}"#,
            &big,
            r#"{"a":1,"a":2}"#,
            r#"{"a":{"b":1,"b":1}}"#,
            r#"{"a":[{"b":1,"b":2}]}"#,
            r#"{"ab":1,"a\u0062":2}"#,
            r#"{"a\u0062":1,"ab":2}"#,
            r#"{"a\u0062":1,"a\u0062":2}"#,
            &format!(r#"{{{many}"m7":1}}"#),
            r#"{"a":1} x"#,
            r#"{"a":1e999}"#,
        ] {
            assert_eq!(skips(json), parse_object(json.as_bytes()).is_ok(), "{json}");
        }
    }

    #[test]
    fn finds_top_level_members_only() {
        let json = br#"{"a":{"b":1},"c\u0064":2}"#;
        assert!(has_member(json, "a"));
        assert!(has_member(json, "cd"));
        assert!(!has_member(json, "b"));
        assert!(!has_member(b"[1]", "a"));
    }

    #[test]
    fn refuses_non_objects_and_trailing_data() {
        assert!(parse_object(b"[1]").is_err());
        assert!(parse_object(b"\"x\"").is_err());
        assert!(parse_object(br#"{"a":1} x"#).is_err());
        assert!(parse_object(br#"{"a":1}{}"#).is_err());
        assert!(parse_object(b"").is_err());
    }
}
