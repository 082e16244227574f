//! Strings read from a token's decoded JSON, kept as spans of the decoded bytes: a verified
//! token holds its header and registered claims without copying a string out.

use std::borrow::Cow;

/// A JSON string of a decoded token: the span of its text when it had no escapes, otherwise
/// its own decoded copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Text {
    Span { start: u32, end: u32 },
    Owned(Box<str>),
}

impl Text {
    const EMPTY: Text = Text::Span { start: 0, end: 0 };

    /// Captures `value`, which was read out of `base`: a value borrowed from `base` becomes a
    /// span of it, anything else a copy.
    pub(crate) fn capture(base: &[u8], value: Cow<'_, str>) -> Text {
        if let Cow::Borrowed(borrowed) = &value {
            let start = borrowed.as_ptr().addr().wrapping_sub(base.as_ptr().addr());
            let inside = start <= base.len() && base.len() - start >= borrowed.len();
            if let (true, Ok(start), Ok(end)) = (
                inside,
                u32::try_from(start),
                u32::try_from(start + borrowed.len()),
            ) {
                return Text::Span { start, end };
            }
        }
        Text::Owned(value.into_owned().into_boxed_str())
    }

    /// The string, read from the `base` it was captured from.
    pub(crate) fn resolve<'a>(&'a self, base: &'a [u8]) -> &'a str {
        match self {
            Text::Span { start, end } => base
                .get(*start as usize..*end as usize)
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .unwrap_or_default(),
            Text::Owned(text) => text,
        }
    }
}

/// How many texts a [`TextList`] holds before it allocates.
const INLINE: usize = 4;

/// A list of [`Text`]s that holds its first few items inline (an `aud` array rarely has more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextList {
    inline: [Text; INLINE],
    len: usize,
    spill: Vec<Text>,
}

impl TextList {
    pub(crate) fn new() -> Self {
        Self {
            inline: [const { Text::EMPTY }; INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, text: Text) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = text,
            None => self.spill.push(text),
        }
        self.len += 1;
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> TextListIter<'_> {
        self.inline[..self.len.min(INLINE)]
            .iter()
            .chain(self.spill.iter())
    }
}

/// The iterator of [`TextList::iter`].
pub(crate) type TextListIter<'a> =
    std::iter::Chain<std::slice::Iter<'a, Text>, std::slice::Iter<'a, Text>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_values_become_spans_and_others_copies() {
        let base = br#"{"a":"hello"}"#;
        let hello = std::str::from_utf8(&base[6..11]).unwrap();
        let span = Text::capture(base, Cow::Borrowed(hello));
        assert_eq!(span, Text::Span { start: 6, end: 11 });
        assert_eq!(span.resolve(base), "hello");
        let elsewhere = Text::capture(base, Cow::Borrowed("hello"));
        assert!(matches!(elsewhere, Text::Owned(_)));
        assert_eq!(elsewhere.resolve(base), "hello");
    }

    #[test]
    fn lists_spill_past_the_inline_items() {
        let mut list = TextList::new();
        for i in 0..7 {
            list.push(Text::Owned(i.to_string().into()));
        }
        assert_eq!(list.len(), 7);
        let items: Vec<_> = list.iter().map(|t| t.resolve(b"")).collect();
        assert_eq!(items, ["0", "1", "2", "3", "4", "5", "6"]);
    }
}
