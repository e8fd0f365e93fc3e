//! A linear pre-scan that keeps html5ever's tree building linear.
//!
//! Several HTML tree-building rules cost html5ever work in proportion to the
//! stack of open elements or to the list of active formatting elements, for
//! each token: scope checks, end tags that match nothing, the adoption agency
//! for mis-nested formatting elements, reopening formatting elements in every
//! paragraph, comparing each new formatting element with the open ones
//! ("Noah's Ark"); and the tokenizer compares each attribute with the tag's
//! earlier ones. Hostile markup makes all of these grow with the page:
//! 100 000 `<div/>` (which nest: `/>` means nothing on a non-void HTML
//! element) took 20 s.
//!
//! Before parsing, one pass tokenizes the page as html5ever does and follows
//! the tree-building rules on a model of the stack of open elements and of
//! the list of active formatting elements: the parts that decide how deep
//! elements nest and how far each token makes the parser search. That
//! searching is counted as work, with a charge for each token (pages of the
//! smallest tokens cost most per byte). Where the tree depth, the work, the
//! formatting list or the attributes of one tag go past their limits, the
//! page is cut before that token (or inside a run of text).
//!
//! The model must follow the rules exactly wherever they close elements or
//! decide what is markup: an element it kept open too long could make it
//! close more than the parser later, or take a `/>` for a foreign one. Where
//! it does simplify, it adds depth and work. A property test checks it
//! against the tree html5ever builds, and `parse` meters the parse itself
//! in case the model is still wrong somewhere.

use std::hash::{BuildHasher, Hasher, RandomState};

use memchr::{memchr, memchr_iter, memchr2, memchr3_iter, memmem};

/// What the scan lets through.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open elements, `<html>` and `<body>` included.
    pub depth: usize,
    /// Attributes on one tag.
    pub attributes: usize,
    /// Entries in the list of active formatting elements.
    pub formatting: usize,
    /// Parser work (about one step of a scope check each) allowed per byte
    /// of page, on top of `base_work`.
    pub work_per_byte: u64,
    pub base_work: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Depth,
    Attributes,
    Formatting,
    Work,
}

/// Where to cut a page, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// Byte offset of the token that went past a limit.
    pub at: usize,
    pub reason: Reason,
}

/// Where document `html` must be cut for parsing it to stay within
/// `limits`, if it must.
pub fn cut(html: &str, limits: &Limits) -> Option<Cut> {
    Scanner::new(html, limits, false).run()
}

/// The same for a fragment, parsed as the content of a `<body>`.
pub fn cut_fragment(html: &str, limits: &Limits) -> Option<Cut> {
    Scanner::new(html, limits, true).run()
}

// Work, in steps of a scope check (some 5 ns), for what the parser (and the
// walk after it) does for each token and element, whatever the nesting:
// pages made of the smallest tokens cost most per byte.
const ELEMENT: u64 = 64;
const TAG: u64 = 48;
/// Text comes as character tokens, split at line breaks, CRs and `<`s.
const CHARACTERS: u64 = 32;
const CHAR_REF: u64 = 128;
const COMMENT: u64 = 96;
/// Work charged for comparing a new formatting element with an open one of
/// the same name: html5ever clones and sorts both attribute lists.
const SAME_FORMATTING: u64 = 8;

// What the HTML rules say about an element name (in the HTML namespace,
// except for the integration points).
const VOID: u32 = 1;
/// html5ever's "special" elements.
const SPECIAL: u32 = 1 << 1;
const FORMATTING: u32 = 1 << 2;
/// Bounds the default scope.
const SCOPE: u32 = 1 << 3;
/// Its content is text up to its end tag.
const RAW: u32 = 1 << 4;
/// Its start tag closes an open `<p>`.
const CLOSES_P: u32 = 1 << 5;
/// Its end tag closes it when it is in the default scope.
const BLOCK_END: u32 = 1 << 6;
/// Breaks out of SVG and MathML content.
const BREAKOUT: u32 = 1 << 7;
/// Closed by "generate implied end tags".
const IMPLIED_END: u32 = 1 << 8;
/// Sets the table insertion modes (and `<template>`).
const TABLE_PART: u32 = 1 << 9;
const HEADING: u32 = 1 << 10;
/// Makes html5ever search the stack for `<template>` while a form is open.
const FORM_ASSOCIATED: u32 = 1 << 11;
const MATH_TEXT_POINT: u32 = 1 << 12;
const SVG_HTML_POINT: u32 = 1 << 13;
const ANNOTATION_XML: u32 = 1 << 14;
const MGLYPH: u32 = 1 << 15;
const PLAINTEXT: u32 = 1 << 16;
/// Bounds the list-item scope.
const LIST: u32 = 1 << 17;
/// Pushes a marker on the list of active formatting elements.
const MARKER: u32 = 1 << 18;
/// A void element that reopens formatting elements first.
const RECONSTRUCTS: u32 = 1 << 19;

/// The element names the rules treat specially, sorted for binary search.
static NAMES: &[(&[u8], u32)] = &[
    (b"a", FORMATTING),
    (b"address", SPECIAL | CLOSES_P | BLOCK_END),
    (b"annotation-xml", ANNOTATION_XML),
    (b"applet", SPECIAL | SCOPE | MARKER),
    (b"area", VOID | SPECIAL | RECONSTRUCTS),
    (b"article", SPECIAL | CLOSES_P | BLOCK_END),
    (b"aside", SPECIAL | CLOSES_P | BLOCK_END),
    (b"b", FORMATTING | BREAKOUT),
    (b"base", VOID | SPECIAL),
    (b"basefont", VOID | SPECIAL),
    (b"bgsound", VOID | SPECIAL),
    (b"big", FORMATTING | BREAKOUT),
    (b"blockquote", SPECIAL | CLOSES_P | BLOCK_END | BREAKOUT),
    (b"body", SPECIAL | BREAKOUT),
    (b"br", VOID | SPECIAL | BREAKOUT | RECONSTRUCTS),
    (b"button", SPECIAL | BLOCK_END | FORM_ASSOCIATED),
    (b"caption", SPECIAL | SCOPE | TABLE_PART | MARKER),
    (b"center", SPECIAL | CLOSES_P | BLOCK_END | BREAKOUT),
    (b"code", FORMATTING | BREAKOUT),
    (b"col", VOID | SPECIAL),
    (b"colgroup", SPECIAL | TABLE_PART),
    (b"dd", SPECIAL | CLOSES_P | IMPLIED_END | BREAKOUT),
    (b"desc", SVG_HTML_POINT),
    (b"details", SPECIAL | CLOSES_P | BLOCK_END),
    (b"dialog", CLOSES_P | BLOCK_END),
    (b"dir", SPECIAL | CLOSES_P | BLOCK_END),
    (b"div", SPECIAL | CLOSES_P | BLOCK_END | BREAKOUT),
    (b"dl", SPECIAL | CLOSES_P | BLOCK_END | BREAKOUT),
    (b"dt", SPECIAL | CLOSES_P | IMPLIED_END | BREAKOUT),
    (b"em", FORMATTING | BREAKOUT),
    (b"embed", VOID | SPECIAL | BREAKOUT | RECONSTRUCTS),
    (
        b"fieldset",
        SPECIAL | CLOSES_P | BLOCK_END | FORM_ASSOCIATED,
    ),
    (b"figcaption", SPECIAL | CLOSES_P | BLOCK_END),
    (b"figure", SPECIAL | CLOSES_P | BLOCK_END),
    (b"font", FORMATTING),
    (b"footer", SPECIAL | CLOSES_P | BLOCK_END),
    (b"foreignobject", SVG_HTML_POINT),
    (b"form", SPECIAL | CLOSES_P),
    (b"frame", VOID | SPECIAL),
    (b"frameset", SPECIAL),
    (b"h1", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    (b"h2", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    (b"h3", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    (b"h4", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    (b"h5", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    (b"h6", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    (b"head", SPECIAL | BREAKOUT),
    (b"header", SPECIAL | CLOSES_P | BLOCK_END),
    (b"hgroup", SPECIAL | CLOSES_P | BLOCK_END),
    (b"hr", VOID | SPECIAL | CLOSES_P | BREAKOUT),
    (b"html", SPECIAL | SCOPE),
    (b"i", FORMATTING | BREAKOUT),
    (b"iframe", SPECIAL | RAW),
    (b"image", VOID | RECONSTRUCTS),
    (
        b"img",
        VOID | SPECIAL | BREAKOUT | FORM_ASSOCIATED | RECONSTRUCTS,
    ),
    (b"input", VOID | SPECIAL | FORM_ASSOCIATED | RECONSTRUCTS),
    (b"isindex", SPECIAL),
    (b"keygen", VOID | RECONSTRUCTS),
    (b"li", SPECIAL | CLOSES_P | IMPLIED_END | BREAKOUT),
    (b"link", VOID | SPECIAL),
    (b"listing", SPECIAL | CLOSES_P | BLOCK_END | BREAKOUT),
    (b"main", SPECIAL | CLOSES_P | BLOCK_END),
    (b"malignmark", MGLYPH),
    (b"marquee", SPECIAL | SCOPE | MARKER),
    (b"menu", SPECIAL | CLOSES_P | BLOCK_END | BREAKOUT),
    (b"meta", VOID | SPECIAL | BREAKOUT),
    (b"mglyph", MGLYPH),
    (b"mi", MATH_TEXT_POINT),
    (b"mn", MATH_TEXT_POINT),
    (b"mo", MATH_TEXT_POINT),
    (b"ms", MATH_TEXT_POINT),
    (b"mtext", MATH_TEXT_POINT),
    (b"nav", SPECIAL | CLOSES_P | BLOCK_END),
    (b"nobr", FORMATTING | BREAKOUT),
    (b"noembed", SPECIAL | RAW),
    (b"noframes", SPECIAL | RAW),
    (b"noscript", SPECIAL | RAW),
    (b"object", SPECIAL | SCOPE | MARKER | FORM_ASSOCIATED),
    (b"ol", SPECIAL | CLOSES_P | BLOCK_END | BREAKOUT | LIST),
    (b"optgroup", IMPLIED_END),
    (b"option", IMPLIED_END),
    (b"output", FORM_ASSOCIATED),
    (b"p", SPECIAL | CLOSES_P | IMPLIED_END | BREAKOUT),
    (b"param", VOID | SPECIAL),
    (b"plaintext", SPECIAL | CLOSES_P | PLAINTEXT),
    (b"pre", SPECIAL | CLOSES_P | BLOCK_END | BREAKOUT),
    (b"rb", IMPLIED_END),
    (b"rp", IMPLIED_END),
    (b"rt", IMPLIED_END),
    (b"rtc", IMPLIED_END),
    (b"ruby", BREAKOUT),
    (b"s", FORMATTING | BREAKOUT),
    (b"script", SPECIAL | RAW),
    (b"search", CLOSES_P | BLOCK_END),
    (b"section", SPECIAL | CLOSES_P | BLOCK_END),
    (b"select", SPECIAL | SCOPE | BLOCK_END | FORM_ASSOCIATED),
    (b"small", FORMATTING | BREAKOUT),
    (b"source", VOID | SPECIAL),
    (b"span", BREAKOUT),
    (b"strike", FORMATTING | BREAKOUT),
    (b"strong", FORMATTING | BREAKOUT),
    (b"style", SPECIAL | RAW),
    (b"sub", BREAKOUT),
    (b"summary", SPECIAL | CLOSES_P | BLOCK_END),
    (b"sup", BREAKOUT),
    (b"table", SPECIAL | SCOPE | TABLE_PART | BREAKOUT),
    (b"tbody", SPECIAL | TABLE_PART),
    (b"td", SPECIAL | SCOPE | TABLE_PART | MARKER),
    (b"template", SPECIAL | SCOPE | TABLE_PART | MARKER),
    (b"textarea", SPECIAL | RAW | FORM_ASSOCIATED),
    (b"tfoot", SPECIAL | TABLE_PART),
    (b"th", SPECIAL | SCOPE | TABLE_PART | MARKER),
    (b"thead", SPECIAL | TABLE_PART),
    (b"title", SPECIAL | RAW | SVG_HTML_POINT),
    (b"tr", SPECIAL | TABLE_PART),
    (b"track", VOID | SPECIAL),
    (b"tt", FORMATTING | BREAKOUT),
    (b"u", FORMATTING | BREAKOUT),
    (b"ul", SPECIAL | CLOSES_P | BLOCK_END | BREAKOUT | LIST),
    (b"var", BREAKOUT),
    (b"wbr", VOID | SPECIAL | RECONSTRUCTS),
    (b"xmp", SPECIAL | CLOSES_P | RAW),
];

/// An element name: up to 8 bytes packed as they are (lowercased), longer
/// ones hashed with a key of this process, so that no page can make two
/// names equal.
type Name = u64;

const fn pack(s: &[u8]) -> Name {
    let mut n = 0u64;
    let mut i = 0;
    while i < s.len() {
        n |= (s[i] as u64) << (8 * i);
        i += 1;
    }
    n
}

const A: Name = pack(b"a");
const BODY: Name = pack(b"body");
const BR: Name = pack(b"br");
const BUTTON: Name = pack(b"button");
const CAPTION: Name = pack(b"caption");
const COL: Name = pack(b"col");
const COLGROUP: Name = pack(b"colgroup");
const DD: Name = pack(b"dd");
const DIV: Name = pack(b"div");
const DT: Name = pack(b"dt");
const FONT: Name = pack(b"font");
const FORM: Name = pack(b"form");
const FRAMESET: Name = pack(b"frameset");
const HEAD: Name = pack(b"head");
const HTML: Name = pack(b"html");
const INPUT: Name = pack(b"input");
const LI: Name = pack(b"li");
const MATH: Name = pack(b"math");
const NOBR: Name = pack(b"nobr");
const OPTGROUP: Name = pack(b"optgroup");
const OPTION: Name = pack(b"option");
const P: Name = pack(b"p");
const RB: Name = pack(b"rb");
const RP: Name = pack(b"rp");
const RT: Name = pack(b"rt");
const RTC: Name = pack(b"rtc");
const RUBY: Name = pack(b"ruby");
const SCRIPT: Name = pack(b"script");
const SELECT: Name = pack(b"select");
const SVG: Name = pack(b"svg");
const TABLE: Name = pack(b"table");
const TBODY: Name = pack(b"tbody");
const TD: Name = pack(b"td");
const TEMPLATE: Name = pack(b"template");
const TFOOT: Name = pack(b"tfoot");
const TH: Name = pack(b"th");
const THEAD: Name = pack(b"thead");
const TR: Name = pack(b"tr");
const ADDRESS: Name = pack(b"address");
const XMP: Name = pack(b"xmp");

/// No stack index, or no element id.
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Html,
    Svg,
    Math,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    name: Name,
    flags: u32,
    ns: Ns,
    id: u32,
    /// Stack index of the nearest HTML table part at or below this element:
    /// it sets the insertion mode, as content foster-parented out of a
    /// table leaves the mode as it was.
    table: u32,
    /// For a `<template>`: the mode its content set.
    template_mode: Mode,
    /// Depth in the tree html5ever builds, which can be more than the
    /// stack's: `</form>` and the adoption agency take elements out of the
    /// middle of the stack and leave their content where it was.
    depth: u32,
    /// Depth of the deepest closed element under this one (or 0): the
    /// adoption agency can move it deeper still.
    under: u32,
}

impl Open {
    fn is(&self, name: Name) -> bool {
        self.ns == Ns::Html && self.name == name
    }

    fn html(&self, flag: u32) -> bool {
        self.ns == Ns::Html && self.flags & flag != 0
    }

    /// An HTML element, or an integration point where HTML rules apply again.
    fn html_or_point(&self) -> bool {
        match self.ns {
            Ns::Html => true,
            Ns::Svg => self.flags & SVG_HTML_POINT != 0,
            Ns::Math => self.flags & MATH_TEXT_POINT != 0,
        }
    }

    fn bounds_default_scope(&self) -> bool {
        match self.ns {
            Ns::Html => self.flags & SCOPE != 0,
            Ns::Svg => self.flags & SVG_HTML_POINT != 0,
            Ns::Math => self.flags & MATH_TEXT_POINT != 0,
        }
    }

    fn bounds_table_scope(&self) -> bool {
        self.is(HTML) || self.is(TABLE) || self.is(TEMPLATE)
    }
}

#[derive(Debug, Clone, Copy)]
enum Entry {
    Marker,
    Element {
        name: Name,
        flags: u32,
        /// Hash of the attributes' source text: equal for equal attributes
        /// written alike (others count as different, which only errs
        /// towards more depth).
        key: u64,
        attrs: u32,
        id: u32,
    },
}

/// The insertion mode, as far as it matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Body,
    Table,
    TableBody,
    Row,
    Cell,
    Caption,
    ColumnGroup,
    /// In a `<template>` before its content chose a mode.
    Template,
}

/// A tag as the tokenizer reads it.
struct Tag {
    name: Name,
    flags: u32,
    /// The name, lowercased, when it is short enough to be a raw-text one.
    short: [u8; 16],
    short_len: usize,
    self_closing: bool,
    attrs: usize,
    /// Source range of the attributes.
    attr_span: (usize, usize),
    /// A `color`, `face` or `size` attribute: such a `<font>` breaks out
    /// of SVG and MathML.
    font_attr: bool,
    /// `type=hidden`: such an `<input>` stays in a table.
    hidden: bool,
    /// Offset just after the tag.
    next: usize,
}

/// What the tokenizer does after a start tag.
enum After {
    Markup,
    /// Text up to the matching end tag.
    RawText,
    /// Text to the end of the page.
    Plaintext,
}

struct Scanner<'a> {
    html: &'a str,
    b: &'a [u8],
    /// A fragment has no body for a frameset to replace.
    fragment: bool,
    limits: &'a Limits,
    keys: RandomState,
    stack: Vec<Open>,
    list: Vec<Entry>,
    next_id: u32,
    /// Id of the element html5ever's form pointer holds, or `NONE`.
    form: u32,
    templates: usize,
    /// No `<!doctype html>` came first: then a `<table>` does not close an
    /// open `<p>`.
    quirks: bool,
    /// Content came: a doctype now is ignored.
    started: bool,
    /// Nothing yet stops a `<frameset>` from replacing the body.
    frameset_ok: bool,
    /// The frameset rules apply: nothing but framesets nests.
    in_frameset: bool,
    work: u64,
    budget: u64,
    /// An element went deeper than the limit where the scan could not stop
    /// at once.
    too_deep: bool,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

impl<'a> Scanner<'a> {
    fn new(html: &'a str, limits: &'a Limits, fragment: bool) -> Self {
        let b = html.as_bytes();
        let mut s = Scanner {
            html,
            b,
            fragment,
            limits,
            keys: RandomState::new(),
            stack: Vec::with_capacity(64),
            list: Vec::new(),
            next_id: 0,
            form: NONE,
            templates: 0,
            // Fragments are parsed in no-quirks mode and ignore doctypes.
            quirks: !fragment,
            started: fragment,
            frameset_ok: true,
            in_frameset: false,
            work: 0,
            too_deep: false,
            budget: limits
                .work_per_byte
                .saturating_mul(b.len() as u64)
                .saturating_add(limits.base_work),
        };
        // The parser opens <html> and <body> whatever the page says.
        for (depth, name, flags) in [(1, HTML, SPECIAL | SCOPE), (2, BODY, SPECIAL | BREAKOUT)] {
            s.stack.push(Open {
                name,
                flags,
                ns: Ns::Html,
                id: s.next_id,
                table: NONE,
                template_mode: Mode::Template,
                depth,
                under: 0,
            });
            s.next_id += 1;
        }
        s
    }

    fn run(mut self) -> Option<Cut> {
        let b = self.b;
        let (mut i, mut text) = (0, 0);
        while let Some(off) = memchr(b'<', &b[i..]) {
            let lt = i + off;
            let end_tag = b.get(lt + 1) == Some(&b'/');
            let next = match b.get(lt + 1) {
                Some(c) if c.is_ascii_alphabetic() => None,
                Some(b'/') if b.get(lt + 2).is_some_and(u8::is_ascii_alphabetic) => None,
                Some(b'/') if b.get(lt + 2) == Some(&b'>') => Some(Some(lt + 3)),
                Some(b'/' | b'?') => Some(memchr(b'>', &b[lt..]).map(|e| lt + e + 1)),
                Some(b'!') => Some(self.declaration(lt)),
                // A `<` that starts no markup is text.
                _ => {
                    i = lt + 1;
                    continue;
                }
            };
            if let Err(cut) = self.text(text, lt) {
                return Some(cut);
            }
            let next = match next {
                Some(next) => next,
                None => match self.tag(lt, end_tag) {
                    Ok(next) => next,
                    Err(cut) => return Some(cut),
                },
            };
            if let Some(reason) = self.over() {
                return Some(Cut { at: lt, reason });
            }
            // Markup left open at the end of the page swallows the rest.
            let next = next?;
            (i, text) = (next, next);
        }
        self.text(text, b.len()).err()
    }

    /// A limit a token went past, if any.
    fn over(&self) -> Option<Reason> {
        if self.too_deep {
            Some(Reason::Depth)
        } else if self.work > self.budget {
            Some(Reason::Work)
        } else {
            None
        }
    }

    /// Skips `<!...>` at `lt`: a comment, a doctype or a bogus comment.
    /// The offset after it, or none when it runs to the end.
    fn declaration(&mut self, lt: usize) -> Option<usize> {
        let b = self.b;
        let body = lt + 2;
        self.work += COMMENT;
        if b[body..].starts_with(b"--") {
            return comment_end(b, body + 2);
        }
        // In SVG and MathML content, CDATA sections hold text; elsewhere
        // they are bogus comments, up to the first `>`.
        if b[body..].starts_with(b"[CDATA[") && self.top().ns != Ns::Html {
            let text = body + 7;
            let end = memmem::find(&b[text..], b"]]>").map(|e| text + e);
            self.note_text(&b[text..end.unwrap_or(b.len())]);
            return end.map(|e| e + 3);
        }
        let end = memchr(b'>', &b[lt..]).map(|e| lt + e)?;
        let decl = &b[body..end];
        if !self.started && decl.len() >= 7 && decl[..7].eq_ignore_ascii_case(b"doctype") {
            // Whether a doctype means quirks takes long lists of public
            // identifiers: html5ever decides, on the page up to it.
            self.started = true;
            let quirks = scraper::Html::parse_document(&self.html[..=end]).quirks_mode;
            self.quirks = quirks == html5ever::tree_builder::QuirksMode::Quirks;
        }
        Some(end + 1)
    }

    /// Reads and follows the tag at `lt`; the offset after it (and after
    /// the raw text it opens), or none when it runs to the end.
    fn tag(&mut self, lt: usize, end_tag: bool) -> Result<Option<usize>, Cut> {
        let cut = |reason| Cut { at: lt, reason };
        let name_at = if end_tag { lt + 2 } else { lt + 1 };
        let Some(tag) = self.read_tag(name_at) else {
            return Ok(None);
        };
        if tag.attrs > self.limits.attributes {
            return Err(cut(Reason::Attributes));
        }
        // The tokenizer compares each attribute name with the earlier ones.
        let attrs = tag.attrs as u64;
        self.work += TAG + attrs * attrs / 8;
        self.started = true;
        if end_tag {
            self.end_tag(&tag);
            return Ok(Some(tag.next));
        }
        match self.start_tag(&tag).map_err(cut)? {
            After::Markup => Ok(Some(tag.next)),
            After::Plaintext => {
                self.text(tag.next, self.b.len())?;
                Ok(None)
            }
            After::RawText => {
                let name = &tag.short[..tag.short_len];
                let end = if tag.name == SCRIPT {
                    script_end(self.b, tag.next)
                } else {
                    raw_text_end(self.b, tag.next, name)
                };
                // Character references count in `<title>` and `<textarea>`
                // only.
                let raw = &self.b[tag.next..end.unwrap_or(self.b.len())];
                let refs = if matches!(name, b"title" | b"textarea") {
                    memchr_iter(b'&', raw).count() as u64
                } else {
                    0
                };
                let tokens = 1 + memchr3_iter(b'\n', b'\r', b'<', raw).count() as u64;
                self.work += CHARACTERS * tokens + CHAR_REF * refs;
                let Some(end) = end else {
                    return Ok(None);
                };
                Ok(self.read_tag(end + 2).map(|t| t.next))
            }
        }
    }

    /// Tokenizes a tag whose name starts at `at`, as html5ever does: the
    /// name runs to a space, `/` or `>`; quoted attribute values may hold
    /// `>`; `/>` marks the tag self-closing only outside a value. None when
    /// the page ends inside the tag, which the tokenizer then drops.
    fn read_tag(&self, at: usize) -> Option<Tag> {
        let b = self.b;
        let name_len = b[at..]
            .iter()
            .position(|&c| is_space(c) || c == b'/' || c == b'>')?;
        let raw_name = &b[at..at + name_len];
        let mut short = [0u8; 16];
        let short_len = if name_len <= short.len() {
            for (d, s) in short.iter_mut().zip(raw_name) {
                *d = s.to_ascii_lowercase();
            }
            name_len
        } else {
            0
        };
        let (name, flags) = if short_len > 0 {
            let lower = &short[..short_len];
            let flags = NAMES
                .binary_search_by(|(n, _)| n.cmp(&lower))
                .map_or(0, |k| NAMES[k].1);
            (self.name_of(lower), flags)
        } else {
            (self.name_of(raw_name), 0)
        };
        let mut j = at + name_len;
        let attr_start = j;
        let (mut attrs, mut font_attr, mut self_closing, mut hidden) = (0, false, false, false);
        loop {
            while b.get(j).is_some_and(|&c| is_space(c)) {
                j += 1;
            }
            match *b.get(j)? {
                b'>' => break,
                b'/' => {
                    if b.get(j + 1) == Some(&b'>') {
                        self_closing = true;
                        j += 1;
                        break;
                    }
                    j += 1;
                    continue;
                }
                _ => {}
            }
            // An attribute name; a leading `=` belongs to it.
            let start = j;
            j += 1;
            while b
                .get(j)
                .is_some_and(|&c| !(is_space(c) || matches!(c, b'/' | b'>' | b'=')))
            {
                j += 1;
            }
            attrs += 1;
            if attrs > self.limits.attributes {
                // Too many to read on, even if the tag never ends.
                return Some(Tag {
                    name,
                    flags,
                    short,
                    short_len,
                    self_closing,
                    attrs,
                    attr_span: (attr_start, j),
                    font_attr,
                    hidden,
                    next: j,
                });
            }
            let attr = &b[start..j];
            font_attr |= [&b"color"[..], b"face", b"size"]
                .iter()
                .any(|n| attr.eq_ignore_ascii_case(n));
            while b.get(j).is_some_and(|&c| is_space(c)) {
                j += 1;
            }
            if b.get(j) != Some(&b'=') {
                continue;
            }
            j += 1;
            while b.get(j).is_some_and(|&c| is_space(c)) {
                j += 1;
            }
            let value_at = j;
            match *b.get(j)? {
                q @ (b'"' | b'\'') => j += 1 + memchr(q, &b[j + 1..])? + 1,
                b'>' => break,
                _ => {
                    while !is_space(*b.get(j)?) && b[j] != b'>' {
                        j += 1;
                    }
                }
            }
            if attr.eq_ignore_ascii_case(b"type") {
                let value = b[value_at..j].trim_ascii_start();
                let value = value
                    .strip_prefix(b"\"")
                    .or_else(|| value.strip_prefix(b"'"))
                    .unwrap_or(value);
                hidden = value
                    .get(..6)
                    .is_some_and(|v| v.eq_ignore_ascii_case(b"hidden"))
                    && value.get(6).is_none_or(|&c| c == b'"' || c == b'\'');
            }
        }
        Some(Tag {
            name,
            flags,
            short,
            short_len,
            self_closing,
            attrs,
            attr_span: (attr_start, j),
            font_attr,
            hidden,
            next: j + 1,
        })
    }

    /// The [`Name`] of a name (lowercased when it is short).
    fn name_of(&self, name: &[u8]) -> Name {
        if name.len() <= 8 {
            let mut n = [0u8; 8];
            for (d, s) in n.iter_mut().zip(name) {
                *d = s.to_ascii_lowercase();
            }
            return u64::from_le_bytes(n);
        }
        let mut h = self.keys.build_hasher();
        for chunk in name.chunks(32) {
            let mut lower = [0u8; 32];
            for (d, s) in lower.iter_mut().zip(chunk) {
                *d = s.to_ascii_lowercase();
            }
            h.write(&lower[..chunk.len()]);
        }
        h.finish()
    }

    // The stack of open elements.

    fn top(&self) -> Open {
        self.stack[self.stack.len() - 1]
    }

    fn push(&mut self, name: Name, flags: u32, ns: Ns) -> Result<u32, Reason> {
        let depth = self.top().depth + 1;
        if self.stack.len() >= self.limits.depth || depth as usize > self.limits.depth {
            return Err(Reason::Depth);
        }
        let id = self.new_element(flags);
        let below = self.top().table;
        let at = self.stack.len() as u32;
        let open = Open {
            name,
            flags,
            ns,
            id,
            table: if ns == Ns::Html && flags & TABLE_PART != 0 {
                at
            } else {
                below
            },
            template_mode: Mode::Template,
            depth,
            under: 0,
        };
        if open.is(TEMPLATE) {
            self.templates += 1;
        }
        self.stack.push(open);
        Ok(id)
    }

    /// An element created, pushed or not.
    fn new_element(&mut self, flags: u32) -> u32 {
        self.work += ELEMENT;
        if self.top().depth as usize >= self.limits.depth {
            self.too_deep = true;
        }
        if flags & FORM_ASSOCIATED != 0 && self.form != NONE {
            self.work += self.stack.len() as u64;
        }
        self.next_id += 1;
        self.next_id - 1
    }

    fn pop(&mut self) {
        self.truncate(self.stack.len() - 1);
    }

    /// Pops the element at `at` and all above it; `<html>` stays.
    fn truncate(&mut self, at: usize) {
        let at = at.max(1);
        let mut deepest = 0;
        for o in &self.stack[at.min(self.stack.len())..] {
            if o.is(TEMPLATE) {
                self.templates -= 1;
            }
            deepest = deepest.max(o.depth).max(o.under);
        }
        let below = &mut self.stack[at - 1];
        below.under = below.under.max(deepest);
        self.work += self.stack.len().saturating_sub(at) as u64;
        self.stack.truncate(at);
    }

    /// Removes the element at `at` from the middle of the stack.
    fn remove(&mut self, at: usize) {
        if at == 0 || at >= self.stack.len() {
            return;
        }
        let o = self.stack.remove(at);
        if o.is(TEMPLATE) {
            self.templates -= 1;
        }
        let below = &mut self.stack[at - 1];
        below.under = below.under.max(o.depth).max(o.under);
        self.renumber(at);
    }

    fn insert(&mut self, at: usize, open: Open) {
        self.stack.insert(at, open);
        self.renumber(at);
    }

    /// Recomputes the table-part indices from `from` up.
    fn renumber(&mut self, from: usize) {
        for k in from..self.stack.len() {
            let below = if k == 0 {
                NONE
            } else {
                self.stack[k - 1].table
            };
            let o = &mut self.stack[k];
            o.table = if o.html(TABLE_PART) { k as u32 } else { below };
        }
        self.work += self.stack.len().saturating_sub(from) as u64;
    }

    /// Index of the topmost element `hit` accepts, searching down from the
    /// top and giving up at an element that bounds the scope.
    fn in_scope(
        &mut self,
        hit: impl Fn(&Open) -> bool,
        bound: impl Fn(&Open) -> bool,
    ) -> Option<usize> {
        for k in (0..self.stack.len()).rev() {
            self.work += 1;
            let o = &self.stack[k];
            if hit(o) {
                return Some(k);
            }
            if bound(o) {
                return None;
            }
        }
        None
    }

    fn in_default_scope(&mut self, name: Name) -> Option<usize> {
        self.in_scope(|o| o.is(name), Open::bounds_default_scope)
    }

    fn stack_pos(&mut self, id: u32) -> Option<usize> {
        let k = self.stack.iter().rposition(|o| o.id == id);
        self.work += (self.stack.len() - k.unwrap_or(0)) as u64;
        k
    }

    fn mode(&self) -> (Mode, usize) {
        let at = self.top().table;
        if at == NONE {
            return (Mode::Body, 0);
        }
        let at = at as usize;
        let mode = match self.stack[at].name {
            TABLE => Mode::Table,
            TBODY | THEAD | TFOOT => Mode::TableBody,
            TR => Mode::Row,
            TD | TH => Mode::Cell,
            CAPTION => Mode::Caption,
            COLGROUP => Mode::ColumnGroup,
            _ => self.stack[at].template_mode,
        };
        (mode, at)
    }

    // The list of active formatting elements.

    fn entry_pos(&mut self, id: u32) -> Option<usize> {
        let k = self
            .list
            .iter()
            .position(|e| matches!(e, Entry::Element { id: i, .. } if *i == id));
        self.work += k.map_or(self.list.len(), |k| k + 1) as u64;
        k
    }

    fn clear_to_marker(&mut self) {
        while let Some(e) = self.list.pop() {
            self.work += 1;
            if matches!(e, Entry::Marker) {
                break;
            }
        }
    }

    /// The last entry named `name` after the last marker: (index, id).
    fn last_entry_named(&mut self, name: Name) -> Option<(usize, u32)> {
        for k in (0..self.list.len()).rev() {
            self.work += 1;
            match self.list[k] {
                Entry::Marker => return None,
                Entry::Element { name: n, id, .. } if n == name => return Some((k, id)),
                Entry::Element { .. } => {}
            }
        }
        None
    }

    /// Reopens the formatting elements that were closed by other elements'
    /// end tags, as html5ever does before most content.
    fn reconstruct(&mut self) -> Result<(), Reason> {
        let Some(&Entry::Element { id, .. }) = self.list.last() else {
            return Ok(());
        };
        if self.stack_pos(id).is_some() {
            return Ok(());
        }
        let mut k = self.list.len() - 1;
        while k > 0 {
            k -= 1;
            let open = match self.list[k] {
                Entry::Marker => true,
                Entry::Element { id, .. } => self.stack_pos(id).is_some(),
            };
            if open {
                k += 1;
                break;
            }
        }
        for j in k..self.list.len() {
            if let Entry::Element {
                name,
                flags,
                key,
                attrs,
                ..
            } = self.list[j]
            {
                let id = self.push(name, flags, Ns::Html)?;
                self.list[j] = Entry::Element {
                    name,
                    flags,
                    key,
                    attrs,
                    id,
                };
            }
        }
        Ok(())
    }

    /// Opens a formatting element, dropping the earliest of three equal
    /// open ones ("Noah's Ark").
    fn push_formatting(&mut self, t: &Tag) -> Result<(), Reason> {
        let (s, e) = t.attr_span;
        let key = self.keys.hash_one(&self.b[s..e.max(s)]);
        let (mut same, mut earliest) = (0, None);
        for k in (0..self.list.len()).rev() {
            self.work += 1;
            match self.list[k] {
                Entry::Marker => break,
                Entry::Element {
                    name,
                    key: other,
                    attrs,
                    ..
                } if name == t.name => {
                    self.work += SAME_FORMATTING + t.attrs as u64 + u64::from(attrs);
                    if other == key {
                        same += 1;
                        earliest = Some(k);
                    }
                }
                Entry::Element { .. } => {}
            }
        }
        if same >= 3
            && let Some(k) = earliest
        {
            self.list.remove(k);
        }
        let id = self.push(t.name, t.flags, Ns::Html)?;
        self.list.push(Entry::Element {
            name: t.name,
            flags: t.flags,
            key,
            attrs: t.attrs as u32,
            id,
        });
        if self.list.len() > self.limits.formatting {
            return Err(Reason::Formatting);
        }
        Ok(())
    }

    /// html5ever's adoption agency, for the end tag of formatting element
    /// `name`: how it reorders the stack and the list.
    fn adoption(&mut self, name: Name) {
        let top = self.top();
        if top.is(name) && self.entry_pos(top.id).is_none() {
            self.pop();
            return;
        }
        for _ in 0..8 {
            let Some((entry, fmt)) = self.last_entry_named(name) else {
                self.other_end_tag(name);
                return;
            };
            let Entry::Element {
                flags, key, attrs, ..
            } = self.list[entry]
            else {
                return;
            };
            let Some(fmt_at) = self.stack_pos(fmt) else {
                self.list.remove(entry);
                return;
            };
            if self
                .in_scope(|o| o.id == fmt, Open::bounds_default_scope)
                .is_none()
            {
                return;
            }
            let furthest = (fmt_at + 1..self.stack.len()).find(|&k| self.stack[k].html(SPECIAL));
            self.work += (self.stack.len() - fmt_at) as u64;
            let Some(furthest) = furthest else {
                self.truncate(fmt_at);
                self.list.remove(entry);
                return;
            };
            let furthest_id = self.stack[furthest].id;
            // Between the formatting element and the furthest block, the
            // three formatting elements nearest the block stay; everything
            // else leaves the stack.
            let mut after = None;
            let (mut node_at, mut last, mut inner) = (furthest, furthest_id, 0);
            loop {
                inner += 1;
                node_at -= 1;
                let node = self.stack[node_at];
                if node.id == fmt {
                    break;
                }
                match self.entry_pos(node.id) {
                    None => self.remove(node_at),
                    Some(pos) if inner > 3 => {
                        self.list.remove(pos);
                        self.remove(node_at);
                    }
                    Some(_) => {
                        // Replaced by a clone, which the model need not
                        // tell from the original.
                        self.work += ELEMENT;
                        if last == furthest_id {
                            after = Some(node.id);
                        }
                        last = node.id;
                    }
                }
            }
            self.readopt_depths(fmt_at, furthest_id);
            // A clone of the formatting element moves above the furthest
            // block, in the stack and in the list.
            let id = self.new_element(flags);
            let clone = Entry::Element {
                name,
                flags,
                key,
                attrs,
                id,
            };
            match after.and_then(|node| self.entry_pos(node)) {
                Some(node) => {
                    self.list.insert(node + 1, clone);
                    if let Some(old) = self.entry_pos(fmt) {
                        self.list.remove(old);
                    }
                }
                None => {
                    if let Some(old) = self.entry_pos(fmt) {
                        self.list[old] = clone;
                    }
                }
            }
            if let Some(at) = self.stack_pos(fmt) {
                self.remove(at);
            }
            let Some(furthest) = self.stack_pos(furthest_id) else {
                return;
            };
            let depth = self.stack[furthest].depth + 1;
            self.insert(
                furthest + 1,
                Open {
                    name,
                    flags,
                    ns: Ns::Html,
                    id,
                    table: NONE,
                    template_mode: Mode::Template,
                    depth,
                    under: 0,
                },
            );
        }
    }

    /// Tree depths after the adoption agency rebuilt the chain from the
    /// formatting element at `fmt_at` (still on the stack) to the furthest
    /// block: the formatting elements left between them hang in a chain
    /// under the common ancestor, the furthest block under them, and the
    /// block's content (open or closed) goes under the formatting element's
    /// clone, one below the block.
    fn readopt_depths(&mut self, fmt_at: usize, furthest_id: u32) {
        let Some(furthest) = self.stack_pos(furthest_id) else {
            return;
        };
        let mut depth = self.stack[fmt_at - 1].depth;
        for o in &mut self.stack[fmt_at + 1..furthest] {
            depth += 1;
            o.depth = depth;
        }
        let old = self.stack[furthest].depth;
        let new = depth + 1;
        self.stack[furthest].depth = new;
        // Content was at `old + 1` and up, and goes to `new + 2` and up.
        if new + 1 > old {
            let shift = new + 1 - old;
            let block = &mut self.stack[furthest];
            if block.under > 0 {
                block.under += shift;
            }
            for o in &mut self.stack[furthest + 1..] {
                o.depth += shift;
                if o.under > 0 {
                    o.under += shift;
                }
            }
        }
        // The clone goes at `new + 1`.
        let limit = self.limits.depth as u32;
        self.work += (self.stack.len() - fmt_at) as u64;
        if new >= limit
            || self.stack[fmt_at..]
                .iter()
                .any(|o| o.depth.max(o.under) > limit)
        {
            self.too_deep = true;
        }
    }

    // Tree building.

    /// Follows a run of text; where to cut if it goes past a limit.
    fn text(&mut self, from: usize, to: usize) -> Result<(), Cut> {
        if from >= to {
            return Ok(());
        }
        let text = &self.b[from..to];
        self.note_text(text);
        let mut search = 0;
        if self.reopens_for(text) {
            self.reconstruct()
                .map_err(|reason| Cut { at: from, reason })?;
            // Each character token checks the formatting elements again,
            // searching the stack down to the last one.
            if let Some(&Entry::Element { id, .. }) = self.list.last()
                && let Some(at) = self.stack.iter().rposition(|o| o.id == id)
            {
                search = (self.stack.len() - 1 - at) as u64;
            }
        }
        // A run too long for the budget is cut inside, at a token.
        self.work += CHARACTERS + search;
        for i in memchr3_iter(b'\n', b'\r', b'&', text) {
            self.work += search
                + if text[i] == b'&' {
                    CHAR_REF
                } else {
                    CHARACTERS
                };
            if self.work > self.budget {
                return Err(Cut {
                    at: from + i,
                    reason: Reason::Work,
                });
            }
        }
        Ok(())
    }

    /// Whether html5ever reopens formatting elements before `text`.
    fn reopens_for(&mut self, text: &[u8]) -> bool {
        let top = self.top();
        if self.in_frameset || !top.html_or_point() {
            return false;
        }
        let blank = || text.iter().all(|&c| is_space(c));
        match self.mode() {
            // Text in a table but outside a cell moves before the table
            // (white space stays).
            (Mode::Table | Mode::TableBody | Mode::Row, _) if top.ns == Ns::Html => !blank(),
            (Mode::ColumnGroup, _) if top.ns == Ns::Html => {
                if blank() || !top.is(COLGROUP) {
                    return false;
                }
                self.pop();
                true
            }
            _ => true,
        }
    }

    /// Text other than white space ends the doctype's chance and the
    /// frameset's.
    fn note_text(&mut self, text: &[u8]) {
        if !text.iter().all(|&c| is_space(c)) {
            self.started = true;
            self.frameset_ok = false;
        }
    }

    fn start_tag(&mut self, t: &Tag) -> Result<After, Reason> {
        if self.in_frameset {
            return self.frameset_start(t);
        }
        let top = self.top();
        let foreign = match top.ns {
            Ns::Html => false,
            Ns::Svg => top.flags & SVG_HTML_POINT == 0,
            Ns::Math if top.flags & MATH_TEXT_POINT != 0 => t.flags & MGLYPH != 0,
            Ns::Math if top.flags & ANNOTATION_XML != 0 => t.name != SVG,
            Ns::Math => true,
        };
        if !foreign {
            return self.html_start(t);
        }
        if t.flags & BREAKOUT != 0 || (t.name == FONT && t.font_attr) {
            while !self.top().html_or_point() {
                self.pop();
            }
            return self.html_start(t);
        }
        if t.self_closing {
            self.new_element(0);
        } else {
            self.push(t.name, t.flags, top.ns)?;
        }
        Ok(After::Markup)
    }

    /// A start tag under the HTML rules, in the table insertion modes first.
    fn html_start(&mut self, t: &Tag) -> Result<After, Reason> {
        let n = t.name;
        let table_part = matches!(
            n,
            CAPTION | COL | COLGROUP | TBODY | THEAD | TFOOT | TR | TD | TH
        );
        loop {
            let (mode, at) = self.mode();
            // In a template, the table modes have the template for a table,
            // which start tags cannot close.
            let context = self.stack[at];
            let closable = !context.is(TEMPLATE);
            match mode {
                Mode::Template => {
                    // The template's first content chooses its mode.
                    let chosen = match n {
                        CAPTION | COLGROUP | TBODY | TFOOT | THEAD => Mode::Table,
                        COL => Mode::ColumnGroup,
                        TR => Mode::TableBody,
                        TD | TH => Mode::Row,
                        // Head elements leave the choice open.
                        _ if matches!(
                            &t.short[..t.short_len],
                            b"base"
                                | b"basefont"
                                | b"bgsound"
                                | b"link"
                                | b"meta"
                                | b"noframes"
                                | b"script"
                                | b"style"
                                | b"template"
                                | b"title"
                        ) =>
                        {
                            return self.body_start(t);
                        }
                        _ => Mode::Body,
                    };
                    self.stack[at].template_mode = chosen;
                }
                // A table in a table closes the open one, if one is in
                // table scope.
                Mode::Table | Mode::TableBody | Mode::Row if n == TABLE => {
                    match self.in_scope(|o| o.is(TABLE), Open::bounds_table_scope) {
                        Some(k) => self.truncate(k),
                        None => return Ok(After::Markup),
                    }
                }
                Mode::Table => match n {
                    CAPTION => {
                        self.truncate(at + 1);
                        self.push(n, t.flags, Ns::Html)?;
                        self.list.push(Entry::Marker);
                        return Ok(After::Markup);
                    }
                    COL => {
                        self.truncate(at + 1);
                        self.push(COLGROUP, TABLE_PART | SPECIAL, Ns::Html)?;
                    }
                    COLGROUP | TBODY | THEAD | TFOOT => {
                        self.truncate(at + 1);
                        self.push(n, t.flags, Ns::Html)?;
                        return Ok(After::Markup);
                    }
                    TD | TH | TR => {
                        self.truncate(at + 1);
                        self.push(TBODY, TABLE_PART | SPECIAL, Ns::Html)?;
                    }
                    _ => return self.table_other(t),
                },
                Mode::TableBody => match n {
                    TR => {
                        self.truncate(at + 1);
                        self.push(n, t.flags, Ns::Html)?;
                        return Ok(After::Markup);
                    }
                    TD | TH => {
                        self.truncate(at + 1);
                        self.push(TR, TABLE_PART | SPECIAL, Ns::Html)?;
                    }
                    // html5ever looks for a table, tbody or tfoot (not thead).
                    CAPTION | COL | COLGROUP | TBODY | THEAD | TFOOT => {
                        let outer = |o: &Open| o.is(TABLE) || o.is(TBODY) || o.is(TFOOT);
                        if self.in_scope(outer, Open::bounds_table_scope).is_none() {
                            return Ok(After::Markup);
                        }
                        self.truncate(at);
                    }
                    _ => return self.table_other(t),
                },
                Mode::Row => match n {
                    TD | TH => {
                        self.truncate(at + 1);
                        self.push(n, t.flags, Ns::Html)?;
                        self.list.push(Entry::Marker);
                        return Ok(After::Markup);
                    }
                    CAPTION | COL | COLGROUP | TBODY | THEAD | TFOOT | TR if closable => {
                        self.truncate(at);
                    }
                    CAPTION | COL | COLGROUP | TBODY | THEAD | TFOOT | TR => {
                        return Ok(After::Markup);
                    }
                    _ => return self.table_other(t),
                },
                // Any table part closes the cell or caption.
                Mode::Cell | Mode::Caption => {
                    if !table_part {
                        return self.body_start(t);
                    }
                    self.truncate(at);
                    self.clear_to_marker();
                }
                Mode::ColumnGroup => match n {
                    COL => {
                        self.new_element(t.flags);
                        return Ok(After::Markup);
                    }
                    TEMPLATE => return self.body_start(t),
                    _ if self.top().is(COLGROUP) => self.pop(),
                    _ => return Ok(After::Markup),
                },
                Mode::Body => return self.body_start(t),
            }
        }
    }

    /// A start tag under the frameset rules: only framesets nest.
    fn frameset_start(&mut self, t: &Tag) -> Result<After, Reason> {
        match t.name {
            FRAMESET => {
                self.push(t.name, t.flags, Ns::Html)?;
            }
            _ if &t.short[..t.short_len] == b"frame" => {
                self.new_element(t.flags);
            }
            _ if &t.short[..t.short_len] == b"noframes" => {
                self.new_element(t.flags);
                return Ok(After::RawText);
            }
            _ => {}
        }
        Ok(After::Markup)
    }

    /// A start tag in a table mode that is no table part.
    fn table_other(&mut self, t: &Tag) -> Result<After, Reason> {
        match t.name {
            FORM => {
                self.work += self.stack.len() as u64;
                if self.templates == 0 && self.form == NONE {
                    // Inserted and closed at once, but the form pointer stays.
                    self.form = self.new_element(t.flags);
                }
                Ok(After::Markup)
            }
            INPUT if t.hidden => {
                self.new_element(t.flags);
                Ok(After::Markup)
            }
            // Foster-parented, under the "in body" rules.
            _ => self.body_start(t),
        }
    }

    /// A start tag under the "in body" rules.
    fn body_start(&mut self, t: &Tag) -> Result<After, Reason> {
        let (n, f) = (t.name, t.flags);
        match n {
            HTML | BODY => {
                self.work += self.stack.len() as u64;
                self.frameset_ok &= n == HTML;
                return Ok(After::Markup);
            }
            HEAD | CAPTION | COL | COLGROUP | TBODY | TD | TFOOT | TH | THEAD | TR => {
                return Ok(After::Markup);
            }
            // A frameset replaces the body unless content came first.
            FRAMESET => {
                if self.frameset_ok && self.templates == 0 && !self.fragment {
                    self.truncate(1);
                    self.in_frameset = true;
                    self.push(n, f, Ns::Html)?;
                }
                return Ok(After::Markup);
            }
            _ => {}
        }
        if (n == INPUT && !t.hidden)
            || matches!(
                &t.short[..t.short_len],
                b"applet"
                    | b"area"
                    | b"br"
                    | b"button"
                    | b"dd"
                    | b"dt"
                    | b"embed"
                    | b"hr"
                    | b"iframe"
                    | b"image"
                    | b"img"
                    | b"keygen"
                    | b"li"
                    | b"listing"
                    | b"marquee"
                    | b"object"
                    | b"pre"
                    | b"select"
                    | b"table"
                    | b"template"
                    | b"textarea"
                    | b"wbr"
                    | b"xmp"
            )
        {
            self.frameset_ok = false;
        }
        if f & RAW != 0 {
            if n == XMP {
                self.close_p();
                self.reconstruct()?;
            }
            self.new_element(f);
            return Ok(After::RawText);
        }
        if f & PLAINTEXT != 0 {
            self.close_p();
            self.push(n, f, Ns::Html)?;
            return Ok(After::Plaintext);
        }
        match n {
            TABLE => {
                if !self.quirks {
                    self.close_p();
                }
                self.push(n, f, Ns::Html)?;
            }
            FORM => {
                self.work += self.stack.len() as u64;
                if self.form != NONE && self.templates == 0 {
                    return Ok(After::Markup);
                }
                self.close_p();
                let id = self.push(n, f, Ns::Html)?;
                if self.templates == 0 {
                    self.form = id;
                }
            }
            LI | DD | DT => {
                for k in (0..self.stack.len()).rev() {
                    self.work += 1;
                    let o = self.stack[k];
                    let closes = if n == LI {
                        o.is(LI)
                    } else {
                        o.is(DD) || o.is(DT)
                    };
                    if closes {
                        self.truncate(k);
                        break;
                    }
                    if o.html(SPECIAL) && !(o.is(ADDRESS) || o.is(DIV) || o.is(P)) {
                        break;
                    }
                }
                self.close_p();
                self.push(n, f, Ns::Html)?;
            }
            BUTTON => {
                if let Some(k) = self.in_default_scope(BUTTON) {
                    self.truncate(k);
                }
                self.reconstruct()?;
                self.push(n, f, Ns::Html)?;
            }
            A => {
                if let Some((_, id)) = self.last_entry_named(A) {
                    self.adoption(A);
                    if let Some(k) = self.entry_pos(id) {
                        self.list.remove(k);
                    }
                    if let Some(k) = self.stack_pos(id) {
                        self.remove(k);
                    }
                }
                self.reconstruct()?;
                self.push_formatting(t)?;
            }
            NOBR => {
                self.reconstruct()?;
                if self.in_default_scope(NOBR).is_some() {
                    self.adoption(NOBR);
                    self.reconstruct()?;
                }
                self.push_formatting(t)?;
            }
            SELECT => {
                if let Some(k) = self.in_default_scope(SELECT) {
                    self.truncate(k);
                } else {
                    self.reconstruct()?;
                    self.push(n, f, Ns::Html)?;
                }
            }
            INPUT => {
                if let Some(k) = self.in_default_scope(SELECT) {
                    self.truncate(k);
                }
                self.reconstruct()?;
                self.new_element(f);
            }
            OPTION | OPTGROUP => {
                if self.in_default_scope(SELECT).is_some() {
                    let except = if n == OPTION { Some(OPTGROUP) } else { None };
                    self.pop_implied_ends(except);
                } else if self.top().is(OPTION) {
                    self.pop();
                }
                self.reconstruct()?;
                self.push(n, f, Ns::Html)?;
            }
            SVG | MATH => {
                self.reconstruct()?;
                if t.self_closing {
                    self.new_element(f);
                } else {
                    let ns = if n == SVG { Ns::Svg } else { Ns::Math };
                    self.push(n, f, ns)?;
                }
            }
            TEMPLATE => {
                self.push(n, f, Ns::Html)?;
                self.list.push(Entry::Marker);
            }
            _ if f & HEADING != 0 => {
                self.close_p();
                if self.top().html(HEADING) {
                    self.pop();
                }
                self.push(n, f, Ns::Html)?;
            }
            _ if f & CLOSES_P != 0 => {
                self.close_p();
                if f & VOID == 0 {
                    self.push(n, f, Ns::Html)?;
                } else {
                    // `<hr>`, which ends open options in a select.
                    if self.in_default_scope(SELECT).is_some() {
                        self.pop_implied_ends(None);
                    }
                    self.new_element(f);
                }
            }
            RB | RTC | RP | RT => {
                if self.in_default_scope(RUBY).is_some() {
                    let except = if matches!(n, RP | RT) {
                        Some(RTC)
                    } else {
                        None
                    };
                    self.pop_implied_ends(except);
                }
                self.push(n, f, Ns::Html)?;
            }
            _ if f & FORMATTING != 0 => {
                self.reconstruct()?;
                self.push_formatting(t)?;
            }
            _ if f & VOID != 0 => {
                if f & RECONSTRUCTS != 0 {
                    self.reconstruct()?;
                }
                self.new_element(f);
            }
            _ => {
                self.reconstruct()?;
                self.push(n, f, Ns::Html)?;
                if f & MARKER != 0 {
                    self.list.push(Entry::Marker);
                }
            }
        }
        Ok(After::Markup)
    }

    /// "Generate implied end tags", but for elements named `except`.
    fn pop_implied_ends(&mut self, except: Option<Name>) {
        while self.top().html(IMPLIED_END) && except.is_none_or(|e| !self.top().is(e)) {
            self.pop();
        }
    }

    /// Closes the `<p>` open in button scope, if there is one.
    fn close_p(&mut self) -> bool {
        let button_scope = |o: &Open| o.bounds_default_scope() || o.is(BUTTON);
        let open = self.in_scope(|o| o.is(P), button_scope);
        if let Some(k) = open {
            self.truncate(k);
        }
        open.is_some()
    }

    fn end_tag(&mut self, t: &Tag) {
        if self.in_frameset {
            if t.name == FRAMESET && self.stack.len() > 1 {
                self.pop();
            }
            return;
        }
        if self.top().ns == Ns::Html {
            return self.html_end(t);
        }
        if t.name == BR || t.name == P {
            while !self.top().html_or_point() {
                self.pop();
            }
            return self.html_end(t);
        }
        // Foreign content: the end tag closes the nearest element of its
        // name above the first HTML one, else follows the HTML rules.
        let mut k = self.stack.len() - 1;
        let mut first = true;
        while k > 0 {
            self.work += 1;
            let o = self.stack[k];
            if !first && o.ns == Ns::Html {
                return self.html_end(t);
            }
            if o.name == t.name {
                return self.truncate(k);
            }
            first = false;
            k -= 1;
        }
    }

    /// An end tag under the HTML rules, in the table insertion modes first.
    fn html_end(&mut self, t: &Tag) {
        let n = t.name;
        let ignored_in_table = matches!(
            n,
            BODY | CAPTION | COL | COLGROUP | HTML | TBODY | TD | TFOOT | TH | THEAD | TR
        );
        loop {
            let (mode, at) = self.mode();
            let closable = !self.stack[at].is(TEMPLATE);
            match mode {
                Mode::Template => {
                    if n == TEMPLATE {
                        self.body_end(t);
                    }
                    return;
                }
                Mode::Table => match n {
                    TABLE if closable => return self.truncate(at),
                    _ if ignored_in_table || n == TABLE => return,
                    _ => return self.body_end(t),
                },
                Mode::TableBody => match n {
                    TBODY | THEAD | TFOOT => {
                        if self.stack[at].name == n {
                            self.truncate(at);
                        }
                        return;
                    }
                    // html5ever looks for a table, tbody or tfoot (not thead).
                    TABLE => {
                        let outer = |o: &Open| o.is(TABLE) || o.is(TBODY) || o.is(TFOOT);
                        if self.in_scope(outer, Open::bounds_table_scope).is_none() {
                            return;
                        }
                        self.truncate(at);
                    }
                    _ if ignored_in_table => return,
                    _ => return self.body_end(t),
                },
                Mode::Row => match n {
                    TR | TABLE | TBODY | THEAD | TFOOT if !closable => return,
                    TR => return self.truncate(at),
                    TABLE => self.truncate(at),
                    TBODY | THEAD | TFOOT => {
                        if self
                            .in_scope(|o| o.is(n), Open::bounds_table_scope)
                            .is_none()
                        {
                            return;
                        }
                        self.truncate(at);
                    }
                    _ if ignored_in_table => return,
                    _ => return self.body_end(t),
                },
                Mode::Cell => match n {
                    TD | TH => {
                        if let Some(k) = self.in_scope(|o| o.is(n), Open::bounds_table_scope) {
                            self.truncate(k);
                            self.clear_to_marker();
                        }
                        return;
                    }
                    BODY | CAPTION | COL | COLGROUP | HTML => return,
                    TABLE | TBODY | TFOOT | THEAD | TR => {
                        if self
                            .in_scope(|o| o.is(n), Open::bounds_table_scope)
                            .is_none()
                        {
                            return;
                        }
                        self.truncate(at);
                        self.clear_to_marker();
                    }
                    _ => return self.body_end(t),
                },
                Mode::Caption => match n {
                    CAPTION => {
                        self.truncate(at);
                        return self.clear_to_marker();
                    }
                    TABLE => {
                        self.truncate(at);
                        self.clear_to_marker();
                    }
                    _ if ignored_in_table => return,
                    _ => return self.body_end(t),
                },
                Mode::ColumnGroup => match n {
                    COLGROUP if self.top().is(COLGROUP) => return self.pop(),
                    COLGROUP | COL => return,
                    TEMPLATE => return self.body_end(t),
                    _ if self.top().is(COLGROUP) => self.pop(),
                    _ => return,
                },
                Mode::Body => return self.body_end(t),
            }
        }
    }

    /// An end tag under the "in body" rules.
    fn body_end(&mut self, t: &Tag) {
        let (n, f) = (t.name, t.flags);
        match n {
            BODY | HTML => {
                self.in_default_scope(BODY);
            }
            TEMPLATE => {
                if let Some(k) = self.in_scope(|o| o.is(TEMPLATE), |_| false) {
                    self.truncate(k);
                    self.clear_to_marker();
                }
            }
            P => {
                // Without an open `<p>`, an empty one is made.
                if !self.close_p() {
                    self.new_element(f);
                }
            }
            LI => {
                let list_scope = |o: &Open| o.bounds_default_scope() || o.html(LIST);
                if let Some(k) = self.in_scope(|o| o.is(LI), list_scope) {
                    self.truncate(k);
                }
            }
            FORM => {
                self.work += self.stack.len() as u64;
                if self.templates > 0 {
                    if let Some(k) = self.in_default_scope(FORM) {
                        self.truncate(k);
                    }
                    return;
                }
                let form = std::mem::replace(&mut self.form, NONE);
                if form == NONE
                    || self
                        .in_scope(|o| o.id == form, Open::bounds_default_scope)
                        .is_none()
                {
                    return;
                }
                self.pop_implied_ends(None);
                if let Some(k) = self.stack_pos(form) {
                    self.remove(k);
                }
            }
            BR => {
                // Read as `<br>`.
                self.frameset_ok = false;
                if self.reconstruct().is_err() {
                    self.too_deep = true;
                }
                self.new_element(f);
            }
            OPTION => {
                self.work += self.stack.len() as u64;
                self.other_end_tag(n);
            }
            _ if f & HEADING != 0 => {
                if let Some(k) = self.in_scope(|o| o.html(HEADING), Open::bounds_default_scope) {
                    self.truncate(k);
                }
            }
            _ if f & FORMATTING != 0 => self.adoption(n),
            _ if f & BLOCK_END != 0 || n == DD || n == DT => {
                if let Some(k) = self.in_default_scope(n) {
                    self.truncate(k);
                }
            }
            // `</applet>`, `</marquee>`, `</object>`.
            _ if f & MARKER != 0 && f & TABLE_PART == 0 => {
                if let Some(k) = self.in_default_scope(n) {
                    self.truncate(k);
                    self.clear_to_marker();
                }
            }
            _ => self.other_end_tag(n),
        }
    }

    /// "Any other end tag": closes the nearest element of that name unless
    /// a special element comes first.
    fn other_end_tag(&mut self, name: Name) {
        for k in (0..self.stack.len()).rev() {
            self.work += 1;
            let o = self.stack[k];
            if o.is(name) {
                return self.truncate(k);
            }
            if o.html(SPECIAL) {
                return;
            }
        }
    }
}

/// End of a comment whose text starts at `from` (after `<!--`): at `>` or
/// `->` right away, else after the first `-->` or `--!>`.
fn comment_end(b: &[u8], from: usize) -> Option<usize> {
    match b.get(from..) {
        Some([b'>', ..]) => return Some(from + 1),
        Some([b'-', b'>', ..]) => return Some(from + 2),
        _ => {}
    }
    let mut i = from;
    loop {
        i += memmem::find(b.get(i..)?, b"--")?;
        let mut j = i + 2;
        // `--->` ends too: extra dashes stay in the end state.
        while b.get(j) == Some(&b'-') {
            j += 1;
        }
        match b.get(j..) {
            Some([b'>', ..]) => return Some(j + 1),
            Some([b'!', b'>', ..]) => return Some(j + 2),
            _ => i = j,
        }
    }
}

/// Offset of the `</script` that ends a script's text, after the
/// tokenizer's escape states: after `<!--`, a `<script>` opens a nested part
/// that only its `</script>` (or `-->`) leaves.
fn script_end(b: &[u8], from: usize) -> Option<usize> {
    #[derive(PartialEq)]
    enum State {
        Data,
        Escaped,
        DoubleEscaped,
    }
    let mut state = State::Data;
    let mut i = from;
    loop {
        i += memchr2(b'<', b'-', b.get(i..)?)?;
        if b[i] == b'-' {
            let dashes = b[i..].iter().take_while(|&&c| c == b'-').count();
            if state != State::Data && dashes >= 2 && b.get(i + dashes) == Some(&b'>') {
                state = State::Data;
            }
            i += dashes;
            continue;
        }
        let end_tag = b[i + 1..].starts_with(b"/") && starts_tag(b, i + 2, b"script");
        match state {
            State::Data if b[i + 1..].starts_with(b"!--") => {
                // Already past two dashes: `<!-->` leaves at once.
                state = State::Escaped;
                let dashes = b[i + 2..].iter().take_while(|&&c| c == b'-').count();
                if b.get(i + 2 + dashes) == Some(&b'>') {
                    state = State::Data;
                }
                i += 2 + dashes;
                continue;
            }
            State::Data | State::Escaped if end_tag => return Some(i),
            State::Escaped if starts_tag(b, i + 1, b"script") => state = State::DoubleEscaped,
            State::DoubleEscaped if end_tag => state = State::Escaped,
            _ => {}
        }
        i += 1;
    }
}

/// `name` (lowercase) at `at`, whole: followed by a space, `/` or `>`.
fn starts_tag(b: &[u8], at: usize, name: &[u8]) -> bool {
    b.get(at..at + name.len())
        .is_some_and(|n| n.eq_ignore_ascii_case(name))
        && b.get(at + name.len())
            .is_some_and(|&c| is_space(c) || c == b'/' || c == b'>')
}

/// Offset of the end tag that closes raw text named `name` (lowercase),
/// searched from `from`: `</name` followed by a space, `/` or `>`.
fn raw_text_end(b: &[u8], from: usize, name: &[u8]) -> Option<usize> {
    let mut i = from;
    loop {
        i += memmem::find(b.get(i..)?, b"</")?;
        if starts_tag(b, i + 2, name) {
            return Some(i);
        }
        i += 2;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const LIMITS: Limits = Limits {
        depth: 256,
        attributes: 512,
        formatting: 128,
        work_per_byte: 8,
        base_work: 1 << 20,
    };

    /// Limits that only the depth can hit.
    fn depth(depth: usize) -> Limits {
        Limits {
            depth,
            attributes: usize::MAX,
            formatting: usize::MAX,
            work_per_byte: u64::MAX,
            base_work: 0,
        }
    }

    fn page(body: &str) -> String {
        format!("<!doctype html><html><body><p>kept</p>{body}")
    }

    /// The cut of a page made of `head` and `unit` repeated, and how many
    /// units come before it.
    fn cut_units(head: &str, unit: &str, n: usize, limits: &Limits) -> Option<(Reason, usize)> {
        cut_numbered(head, |_| unit.to_owned(), n, limits)
    }

    /// The same with units that differ: `unit(i)` for the `i`-th.
    fn cut_numbered(
        head: &str,
        unit: impl Fn(usize) -> String,
        n: usize,
        limits: &Limits,
    ) -> Option<(Reason, usize)> {
        let mut body = head.to_owned();
        let mut starts = Vec::new();
        for i in 0..n {
            starts.push(body.len());
            body.push_str(&unit(i));
        }
        let page = page(&body);
        let c = cut(&page, limits)?;
        let offset = page.len() - body.len();
        Some((
            c.reason,
            starts.iter().filter(|&&s| s + offset < c.at).count(),
        ))
    }

    #[test]
    fn names_are_sorted_for_binary_search() {
        assert!(NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn ordinary_markup_is_shallow() {
        let page = "<html><body><div><p>a<p>b<ul><li>x<li>y</ul><br><img src=x>\
                    <script>var s = '<div><div><div>';</script><!-- <div><div> --></div></body></html>";
        assert_eq!(cut(page, &depth(5)), None);
        assert_eq!(cut(page, &depth(4)).map(|c| c.reason), Some(Reason::Depth));
    }

    #[test]
    fn deep_nesting_is_cut_at_the_limit() {
        let page = format!("<html><body>{}", "<div>".repeat(100));
        let cut = cut(&page, &depth(50)).expect("too deep");
        assert_eq!(cut.reason, Reason::Depth);
        assert_eq!(&page[cut.at..cut.at + 5], "<div>");
        // `<html>` and `<body>` count.
        assert_eq!(page[..cut.at].matches("<div>").count(), 48);
    }

    /// `/>` does not close a non-void HTML element: html5ever nests
    /// `<div/>` like `<div>`.
    #[test]
    fn self_closing_divs_are_cut_at_the_limit() {
        let page = format!("<html><body><p>kept</p>{}", "<div/>".repeat(100_000));
        let cut = cut(&page, &LIMITS).expect("too deep");
        assert_eq!(cut.reason, Reason::Depth);
        assert_eq!(page[..cut.at].matches("<div/>").count(), 254);
        assert!(page[..cut.at].starts_with("<html><body><p>kept</p>"));
    }

    /// An end tag that matches no open element is ignored.
    #[test]
    fn stray_end_tags_are_cut_at_the_limit() {
        let page = format!("<html><body><p>kept</p>{}", "<div></b>".repeat(100_000));
        let cut = cut(&page, &LIMITS).expect("too deep");
        assert_eq!(cut.reason, Reason::Depth);
        assert_eq!(page[..cut.at].matches("<div>").count(), 254);
    }

    #[test]
    fn void_and_foreign_self_closing_elements_do_not_nest() {
        for (head, unit) in [
            ("", "<br/>"),
            ("", "<img src=x/>"),
            ("", "<hr>"),
            ("<svg>", "<path d='M0 0'/>"),
            ("<svg>", "<g/>"),
            ("<math>", "<mi/>"),
            ("", "<svg/>"),
        ] {
            assert_eq!(cut_units(head, unit, 1000, &depth(6)), None, "{unit}");
        }
    }

    #[test]
    fn end_tags_close_what_they_match() {
        for unit in [
            "<div></div>",
            "<span><i></i></span>",
            "<b><i></b></i>",
            "<a href=x>link</a>",
            "<div><span></div>",
            "<ul><li><div></ul>",
            "<table><tr><td>x</table>",
            "<svg><g><g></svg>",
            "<svg><foreignObject><div></div></foreignObject></svg>",
            "<form><input></form>",
        ] {
            assert_eq!(cut_units("", unit, 1000, &depth(10)), None, "{unit}");
        }
    }

    /// Real pages leave `<p>`, `<li>`, `<option>`, table cells and equal
    /// formatting elements open: the next one closes them.
    #[test]
    fn implied_ends_keep_real_markup_shallow() {
        for (head, unit) in [
            ("", "<p>text"),
            ("<ul>", "<li>item"),
            ("<ol>", "<li><a href=x>item</a>"),
            ("<dl>", "<dt>term<dd>definition"),
            ("<select>", "<option>choice"),
            ("<select>", "<optgroup><option>choice"),
            ("<table>", "<tr><td>cell<td>cell"),
            ("<table>", "<tbody><tr><th>head"),
            ("", "<h2>title<h3>title"),
            ("", "<p><b>bold</p>"),
            ("", "<p><font face=Arial>text</p>"),
            ("", "<a href=x>a<a href=y>b"),
            ("", "<button>a<button>b"),
            ("", "<form><form>"),
            ("", "<nobr>a<nobr>b"),
        ] {
            assert_eq!(
                cut_units(head, unit, 1000, &depth(10)),
                None,
                "{head}{unit}"
            );
        }
    }

    #[test]
    fn nested_tables_count_their_implied_parts() {
        // Each level opens a table, a tbody, a tr and a td.
        let (reason, n) = cut_units("", "<table><tr><td>", 1000, &LIMITS).expect("cut");
        assert_eq!(reason, Reason::Depth);
        // 2 + 63 * 4 = 254 open, then a table and a tbody, and no room for
        // the 64th level's row.
        assert_eq!(n, 64);
    }

    #[test]
    fn markup_the_parser_reads_is_counted() {
        for (head, unit) in [
            // `<!-->` and `<!--->` are whole comments, `--!>` ends one.
            ("<!-->", "<div/>"),
            ("<!--->", "<div/>"),
            ("<!-- x --!>", "<div/>"),
            // A quoted `>` does not end a tag.
            ("<div title='><!--'>", "<div/>"),
            ("<div title=\"><script>\">", "<div/>"),
            // A `/` in an unquoted value does not close a foreign element.
            ("<svg>", "<g class=a/>"),
            // SVG and MathML content has no raw text.
            ("<svg><style>", "<g>"),
            ("<math><title>", "<mrow>"),
            // HTML integration points and MathML annotations.
            ("<svg><desc>", "<x/>"),
            ("<svg><foreignObject>", "<x/>"),
            ("<math><mi>", "<x/>"),
            ("<math><annotation-xml><div></div></annotation-xml>", "<x/>"),
            ("<svg><desc></desc>", "<g>"),
            // `</script` needs a delimiter.
            ("<script>a</scripts>b</script>", "<div/>"),
            ("", "<b><div></b>"),
            ("", "<a href=x><div>"),
        ] {
            let (reason, n) = cut_units(head, unit, 1000, &LIMITS)
                .unwrap_or_else(|| panic!("{head}{unit} not cut"));
            assert!(n < 1000, "{head}{unit}: cut after {n} units for {reason:?}");
        }
    }

    #[test]
    fn raw_text_and_comments_are_not_markup() {
        for (head, unit, tail) in [
            ("<script>", "<div>", "</script>"),
            ("<style>", "<div>", "</style >"),
            ("<title>", "<div>", "</TITLE>"),
            ("<textarea>", "<div>", "</textarea>"),
            ("<noscript>", "<div>", "</noscript>"),
            ("<!--", "<div>", "-->"),
            ("<!--", "<div>-- >", "--!>"),
            ("<?", "<div", ">"),
        ] {
            let page = page(&format!("{head}{}{tail}<p>after</p>", unit.repeat(1000)));
            assert_eq!(cut(&page, &depth(5)), None, "{head}");
        }
        // A tag left open at the end is dropped by the tokenizer.
        assert_eq!(
            cut(
                &page(&format!("<div a='{}", "<div>".repeat(1000))),
                &depth(5)
            ),
            None
        );
    }

    #[test]
    fn reopened_formatting_elements_count() {
        // Each paragraph reopens all the (different) bold elements of the
        // ones before.
        let unit = |i| format!("<p><b class=c{i}>x</p>");
        let (reason, n) = cut_numbered("", unit, 1000, &depth(256)).expect("cut");
        // 2 + 1 + 253 + 1 = 257: the 254th paragraph does not fit.
        assert_eq!((reason, n), (Reason::Depth, 254));
        // Equal ones are reopened three at most ("Noah's Ark").
        assert_eq!(cut_units("", "<p><b class=c>x</p>", 1000, &depth(7)), None);
    }

    #[test]
    fn too_many_attributes_are_cut() {
        let attrs: String = (0..1000).map(|i| format!(" a{i}")).collect();
        let page = page(&format!("<div{attrs}>"));
        let c = cut(&page, &LIMITS).expect("cut");
        assert_eq!(
            (c.reason, &page[c.at..c.at + 4]),
            (Reason::Attributes, "<div")
        );
    }

    #[test]
    fn long_formatting_lists_are_cut() {
        let limits = Limits {
            depth: 1000,
            ..LIMITS
        };
        let unit = |i| format!("<b id=b{i}>");
        let (reason, n) = cut_numbered("", unit, 1000, &limits).expect("cut");
        assert_eq!((reason, n), (Reason::Formatting, LIMITS.formatting));
    }

    #[test]
    fn scope_searches_past_the_budget_are_cut() {
        // Each `</x>` searches 250 open spans for an `<x>`.
        let (reason, n) = cut_units(&"<span>".repeat(250), "</x>", 200_000, &LIMITS).expect("cut");
        assert_eq!(reason, Reason::Work);
        assert!(n > 10_000, "{n}");
        // Each line of text checks for formatting elements to reopen, down
        // to the `<b>` under 200 spans.
        let head = format!("<b>{}", "<span>".repeat(200));
        let (reason, _) = cut_units(&head, "a\n", 400_000, &LIMITS).expect("cut");
        assert_eq!(reason, Reason::Work);
    }

    /// The depth html5ever built: elements with their element ancestors.
    fn real_depth(html: &scraper::Html) -> usize {
        html.tree
            .root()
            .descendants()
            .filter(|n| n.value().is_element())
            .map(|n| n.ancestors().filter(|a| a.value().is_element()).count() + 1)
            .max()
            .unwrap_or(0)
    }

    const PIECES: &[&str] = &[
        "<div>",
        "</div>",
        "<div/>",
        "<p>",
        "</p>",
        "<b>",
        "</b>",
        "<i>",
        "</i>",
        "<b class=x>",
        "<a href=x>",
        "</a>",
        "<span>",
        "</span>",
        "<table>",
        "</table>",
        "<tr>",
        "</tr>",
        "<td>",
        "</td>",
        "<th>",
        "<tbody>",
        "</tbody>",
        "<caption>",
        "</caption>",
        "<colgroup>",
        "<col>",
        "<svg>",
        "</svg>",
        "<math>",
        "</math>",
        "<mi>",
        "</mi>",
        "<annotation-xml>",
        "<foreignObject>",
        "</foreignObject>",
        "<desc>",
        "</desc>",
        "<x/>",
        "<x>",
        "</x>",
        "<g/>",
        "<g a=b/>",
        "<select>",
        "</select>",
        "<option>",
        "</option>",
        "<li>",
        "<ul>",
        "</ul>",
        "<dd>",
        "<dt>",
        "<form>",
        "</form>",
        "<template>",
        "</template>",
        "<button>",
        "</button>",
        "<nobr>",
        "<font color=red>",
        "<font>",
        "</font>",
        "<style>",
        "</style>",
        "<title>",
        "</title>",
        "<!--",
        "-->",
        "<!-->",
        "text",
        "\n",
        "&amp;",
        "<br/>",
        "</br>",
        "<h1>",
        "<h2>",
        "</h1>",
        "<object>",
        "</object>",
        "<input>",
        "<textarea>",
        "</textarea>",
        "<xmp>",
        "</xmp>",
        "<![CDATA[",
        "]]>",
        "<body>",
        "</body>",
        "<html>",
        "<head>",
        "</head>",
        "<ruby>",
        "<rt>",
        "<tfoot>",
        "<hr>",
        "<img>",
        "<mglyph>",
        "<mtext>",
        "<a>",
        "<p/>",
        "<div a='>'>",
        "<em>",
        "</em>",
        "<strong>",
        "</strong>",
        "<frameset>",
        "<iframe>",
        "</iframe>",
        "<noscript>",
        "</noscript>",
        "<plaintext>",
        "<h3>",
        "</h3>",
        "<label>",
        "<output>",
        "<script>",
        "</script>",
        "<!--<script>",
        "<b class=1>",
        "<b class=2>",
        "<i id=3>",
        "<a href=y>",
        "<u>",
        "</u>",
        "<font face=x>",
        "<thead>",
        "<tfoot>",
        "</tfoot>",
        "</thead>",
        "<col/>",
        "</colgroup>",
        "<rb>",
        "<rtc>",
        "<rp>",
        "</ruby>",
        "<input type=hidden>",
        "<frame>",
        "</frameset>",
        "<noframes>",
        "</noframes>",
        "<dl>",
        "</dl>",
        "</li>",
        "</dd>",
        "<applet>",
        "</applet>",
        "<marquee>",
        "<optgroup>",
        "<mo>",
        "<ms>",
        "<malignmark>",
        "<foreignobject>",
        "<title>x</title>",
        "<svg/>",
        "<math/>",
        "<font size=1>",
        "</td></tr>",
        "<pre>",
        "<listing>",
        "<center>",
        "<main>",
        "<search>",
        "<dialog>",
        "</dialog>",
        "<area>",
        "<keygen>",
        "<wbr>",
        "<embed>",
        "<param>",
        "<iframe>x</iframe>",
        "<noembed>",
        "<sub>",
        "<sup>",
        "<var>",
        "<code>",
        "<big>",
        "<small>",
        "<s>",
        "<tt>",
        "<strike>",
        "</nobr>",
        "<image>",
        "</table></table>",
        "<caption>x",
        "</caption>",
        "<th>",
        "</th>",
        "<summary>",
        "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\">",
        "<!doctype html>",
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">",
        "<!doctype x>",
    ];

    fn pieces() -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            proptest::collection::vec(0..PIECES.len(), 0..120),
        )
            .prop_map(|(doctype, picks)| {
                let mut page = String::from(if doctype { "<!doctype html>" } else { "" });
                for i in picks {
                    page.push_str(PIECES[i]);
                }
                page
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// The model never sees less depth than html5ever builds: a limit
        /// just below the real depth always cuts.
        #[test]
        fn depth_is_never_underestimated(page in pieces()) {
            let real = real_depth(&scraper::Html::parse_document(&page));
            if real >= 3 {
                prop_assert!(cut(&page, &depth(real - 1)).is_some(), "real depth {real}");
            }
        }

        /// The same for fragments, parsed as the content of a `<body>`.
        #[test]
        fn fragment_depth_is_never_underestimated(page in pieces()) {
            let real = real_depth(&scraper::Html::parse_fragment(&page));
            if real >= 2 {
                prop_assert!(cut_fragment(&page, &depth(real - 1)).is_some(), "real depth {real}");
            }
        }
    }
}
