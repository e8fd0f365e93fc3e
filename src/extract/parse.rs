//! Parsing with a meter on html5ever's work.
//!
//! `nesting` predicts the parser's work and cuts hostile pages before they
//! are parsed, but it models the tree-building rules, and a rule it got
//! wrong would let a page through at the parser's quadratic worst. So the
//! parse is metered too: a tree sink counts the calls with which html5ever
//! walks its stack of open elements and its list of formatting elements (it
//! asks for an element's name, or compares two, at each step) and the depth
//! at which it inserts elements. The page goes in in small chunks, and
//! parsing stops at the first chunk boundary past a limit. The limits sit
//! well above what the guard lets through, to stop only what it missed.

use std::cell::{Cell, Ref, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use ego_tree::NodeId;
use html5ever::driver::{self, Parser};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::tree_builder::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::{Attribute, QualName, local_name, ns};
use scraper::{Html, HtmlTreeSink};

/// Where parsing stops.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    /// Steps through the stack or the formatting list allowed per byte of
    /// page, on top of `base_steps`.
    pub steps_per_byte: u64,
    pub base_steps: u64,
    /// Depth at which an element may be inserted.
    pub depth: u32,
}

/// How much of the page goes in between two looks at the meter: small, as
/// what one chunk costs past a limit is not stopped.
const CHUNK: usize = 4096;

/// Parses a document, or as much of it as the meter allows.
pub fn document(html: &str, meter: &Meter) -> Html {
    let sink = Metered::new(Html::new_document());
    let state = Rc::clone(&sink.state);
    feed(
        driver::parse_document(sink, Default::default()),
        html,
        &state,
        meter,
    )
}

/// Parses a fragment as the content of a `<body>`, or as much of it as the
/// meter allows.
pub fn fragment(html: &str, meter: &Meter) -> Html {
    let sink = Metered::new(Html::new_fragment());
    let state = Rc::clone(&sink.state);
    let parser = driver::parse_fragment(
        sink,
        Default::default(),
        QualName::new(None, ns!(html), local_name!("body")),
        Vec::new(),
        false,
    );
    feed(parser, html, &state, meter)
}

fn feed(mut parser: Parser<Metered>, html: &str, state: &State, meter: &Meter) -> Html {
    let budget = meter
        .steps_per_byte
        .saturating_mul(html.len() as u64)
        .saturating_add(meter.base_steps);
    let mut rest = html;
    while !rest.is_empty() {
        let mut end = CHUNK.min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (chunk, tail) = rest.split_at(end);
        parser.process(StrTendril::from_slice(chunk));
        rest = tail;
        if state.steps.get() > budget || state.deepest.get() > meter.depth {
            tracing::debug!(
                parsed = html.len() - rest.len(),
                steps = state.steps.get(),
                depth = state.deepest.get(),
                "parse stopped by its meter"
            );
            break;
        }
    }
    parser.finish()
}

/// What the meter has seen.
#[derive(Default)]
struct State {
    steps: Cell<u64>,
    deepest: Cell<u32>,
    /// Depth of each node inserted, at its insertion (moves after that are
    /// not followed: the guard accounts for them).
    depth: RefCell<HashMap<NodeId, u32, BuildHasherDefault<IdHasher>>>,
}

impl State {
    fn step(&self) {
        self.steps.set(self.steps.get() + 1);
    }

    fn depth_of(&self, node: &NodeId) -> u32 {
        self.depth.borrow().get(node).copied().unwrap_or(0)
    }

    fn place(&self, child: &NodeOrText<NodeId>, depth: u32) {
        if let NodeOrText::AppendNode(node) = child {
            self.depth.borrow_mut().insert(*node, depth);
            self.deepest.set(self.deepest.get().max(depth));
        }
    }
}

/// Node ids are indices, so a multiplication spreads them over the hash
/// well enough (hashbrown wants the high bits to differ too), at a fraction
/// of SipHash's cost.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// scraper's tree sink, with the meter.
struct Metered {
    inner: HtmlTreeSink,
    state: Rc<State>,
}

impl Metered {
    fn new(html: Html) -> Self {
        Metered {
            inner: HtmlTreeSink::new(html),
            state: Rc::default(),
        }
    }
}

impl TreeSink for Metered {
    type Handle = NodeId;
    type Output = Html;
    type ElemName<'a> = Ref<'a, QualName>;

    fn finish(self) -> Html {
        self.inner.finish()
    }

    fn parse_error(&self, msg: std::borrow::Cow<'static, str>) {
        self.inner.parse_error(msg);
    }

    fn get_document(&self) -> NodeId {
        self.inner.get_document()
    }

    fn elem_name<'a>(&'a self, target: &'a NodeId) -> Ref<'a, QualName> {
        self.state.step();
        self.inner.elem_name(target)
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> NodeId {
        self.inner.create_element(name, attrs, flags)
    }

    fn create_comment(&self, text: StrTendril) -> NodeId {
        self.inner.create_comment(text)
    }

    fn create_pi(&self, target: StrTendril, data: StrTendril) -> NodeId {
        self.inner.create_pi(target, data)
    }

    fn append(&self, parent: &NodeId, child: NodeOrText<NodeId>) {
        self.state.place(&child, self.state.depth_of(parent) + 1);
        self.inner.append(parent, child);
    }

    fn append_based_on_parent_node(
        &self,
        element: &NodeId,
        prev_element: &NodeId,
        child: NodeOrText<NodeId>,
    ) {
        let depth = self
            .state
            .depth_of(element)
            .max(self.state.depth_of(prev_element) + 1);
        self.state.place(&child, depth);
        self.inner
            .append_based_on_parent_node(element, prev_element, child);
    }

    fn append_doctype_to_document(
        &self,
        name: StrTendril,
        public_id: StrTendril,
        system_id: StrTendril,
    ) {
        self.inner
            .append_doctype_to_document(name, public_id, system_id);
    }

    fn mark_script_already_started(&self, node: &NodeId) {
        self.inner.mark_script_already_started(node);
    }

    fn get_template_contents(&self, target: &NodeId) -> NodeId {
        let contents = self.inner.get_template_contents(target);
        let depth = self.state.depth_of(target);
        self.state.depth.borrow_mut().insert(contents, depth);
        contents
    }

    fn same_node(&self, x: &NodeId, y: &NodeId) -> bool {
        self.state.step();
        self.inner.same_node(x, y)
    }

    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.inner.set_quirks_mode(mode);
    }

    fn append_before_sibling(&self, sibling: &NodeId, new_node: NodeOrText<NodeId>) {
        self.state.place(&new_node, self.state.depth_of(sibling));
        self.inner.append_before_sibling(sibling, new_node);
    }

    fn add_attrs_if_missing(&self, target: &NodeId, attrs: Vec<Attribute>) {
        self.inner.add_attrs_if_missing(target, attrs);
    }

    fn remove_from_parent(&self, target: &NodeId) {
        self.inner.remove_from_parent(target);
    }

    fn reparent_children(&self, node: &NodeId, new_parent: &NodeId) {
        self.inner.reparent_children(node, new_parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Meter = Meter {
        steps_per_byte: u64::MAX,
        base_steps: 0,
        depth: u32::MAX,
    };

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/extract/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        super::super::decode(&bytes, None)
    }

    /// Feeding in chunks builds the same tree as parsing at once.
    #[test]
    fn chunks_parse_like_the_whole() {
        let page = fixture("news_page.html");
        // Chunks that split a CRLF, a character reference, a tag and a
        // multi-byte character.
        let tricky = format!(
            "{}\r\n{}&amp;{}<p class=x>{}é{}",
            "a".repeat(CHUNK - 1),
            "b".repeat(CHUNK - 2),
            "c".repeat(CHUNK - 6),
            "d".repeat(CHUNK - 17),
            "e".repeat(10)
        );
        for page in [page.as_str(), tricky.as_str()] {
            assert_eq!(
                document(page, &OPEN).html(),
                Html::parse_document(page).html()
            );
            assert_eq!(
                fragment(page, &OPEN).html(),
                Html::parse_fragment(page).html()
            );
        }
    }

    #[test]
    fn deep_pages_stop_past_the_depth() {
        let meter = Meter { depth: 100, ..OPEN };
        let page = format!("<p>first</p>{}<p>never</p>", "<div/>".repeat(20_000));
        let html = document(&page, &meter);
        let text: String = html.root_element().text().collect();
        assert!(text.starts_with("first"));
        assert!(!text.contains("never"));
        // Stopped at the end of the chunk that went past 100.
        let depth = html
            .tree
            .nodes()
            .map(|n| n.ancestors().count())
            .max()
            .unwrap_or(0);
        assert!((100..100 + CHUNK / 6 + 10).contains(&depth), "{depth}");
    }

    #[test]
    fn costly_pages_stop_past_the_steps() {
        let meter = Meter {
            steps_per_byte: 16,
            base_steps: 0,
            depth: u32::MAX,
        };
        // Each `</x>` walks 200 open spans, two steps each: 16 steps a
        // byte last some 16 000 of them. Each is a parse error.
        let page = format!("{}{}", "<span>".repeat(200), "</x>".repeat(100_000));
        let html = document(&page, &meter);
        assert!(
            (16_000..16_000 + CHUNK).contains(&html.errors.len()),
            "{}",
            html.errors.len()
        );
    }
}
