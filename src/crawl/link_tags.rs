//! The tokenizer sink of link extraction: an html5gum [`Emitter`] that keeps only the start tags
//! whose attribute is a link, and of each only that attribute's value.
//!
//! html5gum still runs the whole WHATWG state machine (comments, bogus comments and CDATA,
//! character references, the raw text of `<script>`, `<style>`, `<textarea>`, ... chosen by
//! [`naive_next_state`]), so which bytes are markup is decided by the same code as before, and
//! the tokenizer already finds the next `<` or `&` of a text run with a SIMD search (its
//! `jetscii` feature). What this emitter saves is the work [`super::links`] threw away when it
//! read html5gum's `DefaultEmitter`: every text run copied twice (into a buffer, then into a
//! token), comments and doctypes copied, every tag's attributes put in a `BTreeMap`, and a parse
//! error token for each oddity; declining errors ([`Emitter::should_emit_errors`]) also stops the
//! tokenizer from checking every character of the page for noncharacters and controls.
//!
//! The emitter mirrors what html5gum's `CallbackEmitter` (the engine of `DefaultEmitter`) does
//! with the state the tokenizer reads back: the last start tag's name (set when a start tag's
//! name is complete, cleared by every end tag), which decides the "appropriate end tag" that
//! ends a `<script>` or `<title>`, and the naive state switch after each tag. Of attributes it
//! keeps what `DefaultEmitter` would: the first one of a name wins, later duplicates are ignored.

use std::collections::VecDeque;
use std::mem::swap;

use html5gum::{Emitter, Error, State, naive_next_state};

/// A start tag that carries a link: `<base href>`, or one of the tags of [`link_attribute`]
/// with that attribute present (its value may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LinkTag {
    /// `<base>`: the document's base URL, not a link.
    pub(super) is_base: bool,
    /// The attribute's value as the tokenizer decoded it (character references replaced), not
    /// yet trimmed.
    pub(super) value: Vec<u8>,
}

/// The attribute of a (lowercased) tag name that is a link, if the tag has one.
fn link_attribute(tag: &[u8]) -> Option<&'static [u8]> {
    match tag {
        b"a" | b"link" | b"base" => Some(b"href"),
        b"img" | b"script" | b"iframe" => Some(b"src"),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    Start,
    End,
}

/// The [`Emitter`] whose tokens are the page's [`LinkTag`]s, in document order.
#[derive(Debug, Default)]
pub(super) struct LinkTags {
    /// The name of the most recent start tag, from the moment its name is complete; emptied by
    /// every emitted end tag. The tokenizer asks whether an end tag matches it (the end of a
    /// `<script>`), and the state after a tag is `naive_next_state` of it.
    last_start_tag: Vec<u8>,
    /// The kind of the tag being read; left as it was after the tag is emitted (as html5gum's
    /// own emitters do).
    tag: Option<TagKind>,
    /// The name of the tag being read, until it is complete (then, for a start tag, it moves to
    /// `last_start_tag` and this is empty).
    tag_name: Vec<u8>,
    /// The link attribute of the start tag being read, once its name is complete; `None` for
    /// every other tag, whose attributes are then not even buffered.
    wanted: Option<&'static [u8]>,
    /// Whether the tag being read is `<base>`.
    is_base: bool,
    /// The name of the attribute being read (only while `wanted` is set).
    attribute_name: Vec<u8>,
    /// The value of the attribute being read (only while `wanted` is set).
    attribute_value: Vec<u8>,
    /// Whether the attribute being read is the first `wanted` one of its tag: its value is
    /// `found`'s.
    capturing: bool,
    /// The value of the tag's first `wanted` attribute, once its name was read.
    found: Option<Vec<u8>>,
    /// Tags emitted and not yet taken by the tokenizer's iterator.
    ready: VecDeque<LinkTag>,
}

impl LinkTags {
    /// A new tag (start or end) begins: nothing of the previous one carries over.
    fn begin_tag(&mut self, kind: TagKind) {
        self.tag_name.clear();
        self.tag = Some(kind);
        self.wanted = None;
        self.is_base = false;
        self.capturing = false;
        self.found = None;
    }

    /// The start tag's name is complete (its first attribute begins, or it ends): it becomes
    /// the last start tag, and decides which attribute is wanted.
    fn flush_open_start_tag(&mut self) {
        if self.tag == Some(TagKind::Start) && !self.tag_name.is_empty() {
            self.wanted = link_attribute(&self.tag_name);
            self.is_base = self.tag_name == b"base";
            self.last_start_tag.clear();
            swap(&mut self.last_start_tag, &mut self.tag_name);
        }
    }

    /// The attribute's name is complete: is it the tag's first wanted one?
    fn flush_attribute_name(&mut self) {
        if self.attribute_name.is_empty() {
            return;
        }
        self.capturing = self.found.is_none() && self.wanted == Some(&self.attribute_name[..]);
        if self.capturing {
            self.found = Some(Vec::new());
        }
        self.attribute_name.clear();
    }

    /// The attribute is complete.
    fn flush_attribute(&mut self) {
        self.flush_attribute_name();
        if !self.attribute_value.is_empty() {
            if self.capturing
                && let Some(found) = &mut self.found
            {
                found.extend_from_slice(&self.attribute_value);
            }
            self.attribute_value.clear();
        }
    }
}

impl Emitter for LinkTags {
    type Token = LinkTag;

    fn set_last_start_tag(&mut self, last_start_tag: Option<&[u8]>) {
        self.last_start_tag.clear();
        self.last_start_tag
            .extend_from_slice(last_start_tag.unwrap_or_default());
    }

    fn emit_eof(&mut self) {}

    fn emit_error(&mut self, _: Error) {}

    fn should_emit_errors(&mut self) -> bool {
        false
    }

    fn pop_token(&mut self) -> Option<LinkTag> {
        self.ready.pop_front()
    }

    fn emit_string(&mut self, _: &[u8]) {}

    fn init_start_tag(&mut self) {
        self.begin_tag(TagKind::Start);
    }

    fn init_end_tag(&mut self) {
        self.begin_tag(TagKind::End);
    }

    fn init_comment(&mut self) {}

    fn emit_current_tag(&mut self) -> Option<State> {
        self.flush_attribute();
        match self.tag {
            Some(TagKind::Start) => {
                self.flush_open_start_tag();
                if self.wanted.is_some()
                    && let Some(value) = self.found.take()
                {
                    self.ready.push_back(LinkTag {
                        is_base: self.is_base,
                        value,
                    });
                }
                self.wanted = None;
            }
            Some(TagKind::End) => self.last_start_tag.clear(),
            None => {}
        }
        naive_next_state(&self.last_start_tag)
    }

    fn emit_current_comment(&mut self) {}

    fn emit_current_doctype(&mut self) {}

    fn set_self_closing(&mut self) {}

    fn set_force_quirks(&mut self) {}

    fn push_tag_name(&mut self, s: &[u8]) {
        self.tag_name.extend_from_slice(s);
    }

    fn push_comment(&mut self, _: &[u8]) {}

    fn push_doctype_name(&mut self, _: &[u8]) {}

    fn init_doctype(&mut self) {}

    fn init_attribute(&mut self) {
        self.flush_open_start_tag();
        self.flush_attribute();
    }

    fn push_attribute_name(&mut self, s: &[u8]) {
        if self.wanted.is_some() {
            self.attribute_name.extend_from_slice(s);
        }
    }

    fn push_attribute_value(&mut self, s: &[u8]) {
        if self.wanted.is_some() {
            self.flush_attribute_name();
            self.attribute_value.extend_from_slice(s);
        }
    }

    fn set_doctype_public_identifier(&mut self, _: &[u8]) {}

    fn set_doctype_system_identifier(&mut self, _: &[u8]) {}

    fn push_doctype_public_identifier(&mut self, _: &[u8]) {}

    fn push_doctype_system_identifier(&mut self, _: &[u8]) {}

    fn current_is_appropriate_end_tag_token(&mut self) -> bool {
        !self.last_start_tag.is_empty()
            && self.tag == Some(TagKind::End)
            && self.last_start_tag == self.tag_name
    }
}

#[cfg(test)]
mod tests {
    use html5gum::Tokenizer;

    use super::*;

    /// The link tags of `html`, as (is `<base>`, value).
    fn tags(html: &str) -> Vec<(bool, String)> {
        Tokenizer::new_with_emitter(html, LinkTags::default())
            .map(|t| match t {
                Ok(tag) => (tag.is_base, String::from_utf8(tag.value).unwrap()),
                Err(never) => match never {},
            })
            .collect()
    }

    fn link(value: &str) -> (bool, String) {
        (false, value.to_string())
    }

    #[test]
    fn only_tags_with_their_link_attribute_are_emitted() {
        let html = r#"<p href="p"><a name="n"><img href="h"><a href="a"><img src="i">"#;
        assert_eq!(tags(html), [link("a"), link("i")]);
    }

    #[test]
    fn base_is_marked_and_an_empty_value_is_a_value() {
        assert_eq!(
            tags(r#"<base href="/b/"><a href>"#),
            [(true, "/b/".to_string()), link("")]
        );
    }

    #[test]
    fn the_first_of_duplicate_attributes_wins() {
        assert_eq!(tags(r#"<a HREF="one" href="two">"#), [link("one")]);
    }

    #[test]
    fn script_ends_only_at_its_own_end_tag() {
        // `</b>` is not the appropriate end tag of `<script>`: its `<a>` is still script text.
        let html = r#"<script></b><a href="in"></script><a href="out">"#;
        assert_eq!(tags(html), [link("out")]);
    }

    #[test]
    fn an_end_tag_forgets_the_last_start_tag() {
        // The state after any tag is `naive_next_state` of the last start tag: were `style`
        // still it after `</style>`, raw text would start again and the `<a>` be text.
        assert_eq!(tags(r#"<style></style><a href="x">"#), [link("x")]);
    }
}
