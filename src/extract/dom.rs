//! One walk over the parsed tree that turns it into flat tables: elements with
//! their boilerplate hints, text blocks (paragraph-level runs of text) and the
//! raw metadata the page declares. Everything after works on these tables.
//!
//! The walk is iterative (no recursion, whatever the nesting depth) and does
//! constant work per node, except for copying text once.

use std::collections::HashMap;

use ego_tree::NodeRef;
use scraper::{Html, Node};

pub const NONE: u32 = u32::MAX;

/// The role of the element that holds a block of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockTag {
    P,
    H1,
    Heading,
    Li,
    Pre,
    Quote,
    Cell,
    Caption,
    Other,
}

/// Why an element looks like page furniture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    None,
    /// Its tag or ARIA role says so (`nav`, `footer`, `role=navigation`),
    /// or it is a caption.
    Structure,
    /// A word in its class or id says so, which can be wrong.
    Name,
    /// Its class or id names a page-builder component (`widget`), which
    /// wraps article sections as often as furniture: furniture unless the
    /// elements of that class hold the article between them.
    Layout,
    /// An embed (`social-embed`, `tweet`): furniture, except for the post it
    /// quotes in a `<blockquote>`, which belongs to the article, and unless
    /// the elements of its class hold the article between them (an editor's
    /// embedded blocks, as for `Layout`).
    Embed,
}

#[derive(Debug)]
pub struct Element {
    pub parent: u32,
    /// Index of this element's last descendant (itself when it has none):
    /// elements are numbered in document order, so a subtree is a range.
    pub last: u32,
    pub hint: Hint,
    /// Marked as the article body by microdata (`itemprop=articleBody`).
    pub article_body: bool,
    /// Which class (or id) value gave a `Hint::Layout` or `Hint::Embed`, as an index below
    /// `Page::hint_keys`, or `NONE`: elements sharing a value are judged
    /// together.
    pub hint_key: u32,
}

#[derive(Debug)]
pub struct Block {
    /// Byte range of the block's text in `Page::text`.
    pub start: u32,
    pub end: u32,
    pub chars: u32,
    pub link_chars: u32,
    /// Link characters before the first non-link one: a block that opens with
    /// a long link is a headline teaser, not prose.
    pub lead_link_chars: u32,
    /// The innermost open element when the block ended.
    pub el: u32,
    pub tag: BlockTag,
    /// Innermost element around the block with a boilerplate hint, or `NONE`.
    pub boiler: u32,
    /// Inside a `<blockquote>`: quoted posts (embedded tweets) are made of
    /// links yet belong to the article.
    pub in_quote: bool,
    /// Inside an element the page hides (`hidden`, `aria-hidden`,
    /// `display:none`): a menu or dialog, or the article itself waiting for
    /// a script (streamed server rendering, accordions).
    pub hidden: bool,
    /// The summary of a story card among several (see `body`): a teaser,
    /// however much it reads like prose.
    pub card: bool,
}

#[derive(Debug, Default)]
pub struct RawMeta {
    pub lang: Option<String>,
    pub title: Option<String>,
    pub h1: Option<String>,
    /// `(name or property, content)` of the `<meta>` tags that matter.
    pub metas: Vec<(String, String)>,
    pub canonical: Option<String>,
    pub json_ld: Vec<String>,
    pub time: Option<String>,
    pub byline: Option<String>,
}

#[derive(Debug, Default)]
pub struct Page {
    pub elements: Vec<Element>,
    pub blocks: Vec<Block>,
    pub text: String,
    pub meta: RawMeta,
    /// How many distinct class/id values gave hints (see `Element::hint_key`).
    pub hint_keys: u32,
}

impl Page {
    pub fn block_text(&self, b: &Block) -> &str {
        &self.text[b.start as usize..b.end as usize]
    }
}

/// What the walk does with an element.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Never text: scripts, styles, embedded objects, form controls.
    Skip,
    Inline,
    Link,
    Break,
    Block(BlockTag),
    /// Block-level and boilerplate by nature (`nav`, `aside`, ...).
    BoilerBlock,
}

fn kind(name: &str) -> Kind {
    use BlockTag as B;
    match name {
        "script" | "style" | "noscript" | "template" | "svg" | "math" | "iframe" | "object"
        | "embed" | "canvas" | "video" | "audio" | "select" | "button" | "textarea" | "input"
        | "head" | "title" | "map" | "dialog" => Kind::Skip,
        "a" => Kind::Link,
        "br" | "hr" => Kind::Break,
        "p" => Kind::Block(B::P),
        "h1" => Kind::Block(B::H1),
        "h2" | "h3" | "h4" | "h5" | "h6" => Kind::Block(B::Heading),
        "li" | "dt" | "dd" => Kind::Block(B::Li),
        "pre" => Kind::Block(B::Pre),
        "blockquote" => Kind::Block(B::Quote),
        "td" | "th" => Kind::Block(B::Cell),
        "figcaption" | "caption" => Kind::Block(B::Caption),
        "nav" | "aside" | "footer" | "header" | "menu" => Kind::BoilerBlock,
        "div" | "section" | "article" | "main" | "ul" | "ol" | "dl" | "table" | "tbody"
        | "thead" | "tfoot" | "tr" | "figure" | "address" | "center" | "form" | "fieldset"
        | "details" | "summary" | "body" | "html" | "legend" | "hgroup" | "picture" => {
            Kind::Block(B::Other)
        }
        _ => Kind::Inline,
    }
}

/// Class/id words that mark page furniture rather than the article. Matched
/// against whole words of the class and id (split at punctuation), so that
/// `ad` does not fire on `header` or `read`.
fn is_boiler_word(w: &[u8]) -> bool {
    matches!(
        w,
        b"nav"
            | b"navbar"
            | b"menu"
            | b"footer"
            | b"share"
            | b"shares"
            | b"sharing"
            | b"social"
            | b"related"
            | b"comment"
            | b"comments"
            | b"ad"
            | b"ads"
            | b"adv"
            | b"advert"
            | b"advertisement"
            | b"advertising"
            | b"banner"
            | b"cookie"
            | b"cookies"
            | b"consent"
            | b"newsletter"
            | b"subscribe"
            | b"subscription"
            | b"promo"
            | b"promotion"
            | b"sidebar"
            | b"breadcrumb"
            | b"breadcrumbs"
            | b"tags"
            | b"caption"
            | b"credit"
            | b"credits"
            | b"byline"
            | b"author"
            | b"authors"
            | b"meta"
            | b"popular"
            | b"trending"
            | b"recommended"
            | b"recirculation"
            | b"signup"
            | b"modal"
            | b"popup"
            | b"toolbar"
            | b"pagination"
            | b"pager"
            | b"sr"
            | b"visually"
            | b"dateline"
            | b"timestamp"
            | b"date"
            | b"disclaimer"
            | b"masthead"
            | b"sponsored"
            | b"outbrain"
            | b"taboola"
            | b"disqus"
            | b"bio"
    )
}

/// Fragments that mark furniture wherever they occur in a class/id word
/// (`relatedArticles`, `site-newsletter-box`).
const BOILER_PARTS: &[&str] = &[
    "navigation",
    "newsletter",
    "cookie",
    "breadcrumb",
    "advert",
    "sponsor",
    "sidebar",
    "comments",
    "related",
    "recommend",
    "social",
    "share",
    "subscribe",
    "promo",
    "caption",
    "byline",
    "popup",
    "outbrain",
    "taboola",
    "trending",
    "signup",
    "adslot",
    "adunit",
    "adsense",
    "adcontainer",
];

/// ARIA roles of furniture.
const BOILER_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "dialog",
    "alert",
    "menu",
    "search",
];

/// The hint a class or id value gives, if any.
fn class_hint(value: &str, scratch: &mut String) -> Hint {
    scratch.clear();
    scratch.extend(value.chars().map(|c| c.to_ascii_lowercase()));
    // Ids are mostly unique, so this runs for nearly every element that has
    // one: plain byte loops, no substring-search setup per call.
    let words = || {
        scratch
            .as_bytes()
            .split(|b| !b.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
    };
    let contains = |w: &[u8], part: &str| w.windows(part.len()).any(|x| x == part.as_bytes());
    if words().any(|w| contains(w, "embed") || w == b"tweet") {
        Hint::Embed
    } else if words().any(|w| is_boiler_word(w) || BOILER_PARTS.iter().any(|p| contains(w, p))) {
        Hint::Name
    } else if words().any(|w| contains(w, "widget")) {
        Hint::Layout
    } else {
        Hint::None
    }
}

/// Which hint wins when the class and the id give different ones.
fn strength(hint: Hint) -> u8 {
    match hint {
        Hint::None => 0,
        Hint::Layout => 1,
        Hint::Name => 2,
        Hint::Structure | Hint::Embed => 3,
    }
}

fn is_hidden_style(style: &str) -> bool {
    let compact: String = style
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    compact.contains("display:none") || compact.contains("visibility:hidden")
}

/// Meta names and properties worth keeping; everything else is dropped during
/// the walk.
fn wanted_meta(key: &str) -> bool {
    matches!(
        key,
        "og:title"
            | "og:url"
            | "og:description"
            | "og:site_name"
            | "og:locale"
            | "description"
            | "twitter:title"
            | "twitter:description"
            | "article:published_time"
            | "og:published_time"
            | "article:author"
            | "author"
            | "byl"
            | "datepublished"
            | "pubdate"
            | "publishdate"
            | "publish-date"
            | "date"
            | "dc.date"
            | "dc.date.issued"
            | "dcterms.created"
            | "sailthru.date"
            | "parsely-pub-date"
            | "content-language"
            | "language"
    )
}

#[derive(Clone, Copy)]
struct Frame {
    el: u32,
    /// Innermost boilerplate-hinted element, this one included.
    boiler: u32,
    /// The tag of the nearest block-level element, this one included.
    block_tag: BlockTag,
    link: bool,
    /// Block-level: its end ends a block of text.
    block: bool,
    /// Inside a `<blockquote>`.
    quote: bool,
    /// Inside a hidden element.
    hidden: bool,
}

/// Where text is being copied besides the block buffer, and until which
/// depth of the frame stack.
#[derive(Default)]
struct Capture {
    depth: Option<usize>,
    text: String,
}

impl Capture {
    fn push(&mut self, depth: usize, s: &str) {
        if self.depth.is_some_and(|d| depth >= d) {
            self.text.push_str(s);
        }
    }

    fn end(&mut self, depth: usize) -> Option<String> {
        if self.depth == Some(depth) {
            self.depth = None;
            Some(collapse_ws(&std::mem::take(&mut self.text)))
        } else {
            None
        }
    }
}

struct Walker<'a> {
    page: Page,
    /// Verdicts on class/id values already seen, with the value's key:
    /// pages repeat them a lot.
    hint_cache: HashMap<&'a str, (Hint, u32)>,
    /// Keys of layout class values, numbered parts left out.
    layout_keys: HashMap<String, u32>,
    stack: Vec<Frame>,
    block_start: usize,
    chars: u32,
    link_chars: u32,
    lead_link_chars: u32,
    pending_space: bool,
    pending_break: bool,
    h1: Capture,
    byline: Capture,
    scratch: String,
}

/// Walks a parsed document (or fragment) into a [`Page`].
pub fn walk(html: &Html) -> Page {
    let mut w = Walker {
        page: Page::default(),
        hint_cache: HashMap::new(),
        layout_keys: HashMap::new(),
        stack: Vec::new(),
        block_start: 0,
        chars: 0,
        link_chars: 0,
        lead_link_chars: 0,
        pending_space: false,
        pending_break: false,
        h1: Capture::default(),
        byline: Capture::default(),
        scratch: String::new(),
    };
    let root = html.tree.root();
    let Some(mut node) = root.first_child() else {
        return w.page;
    };
    'walk: loop {
        let descend = w.open(node);
        if descend && let Some(child) = node.first_child() {
            node = child;
            continue;
        }
        if descend {
            w.close();
        }
        loop {
            if let Some(next) = node.next_sibling() {
                node = next;
                break;
            }
            match node.parent() {
                Some(parent) if parent.id() != root.id() => {
                    w.close();
                    node = parent;
                }
                _ => break 'walk,
            }
        }
    }
    w.flush();
    w.page
}

impl<'a> Walker<'a> {
    /// Handles the start of a node; true when the walk should go into its
    /// children (and a frame was pushed for it).
    fn open(&mut self, node: NodeRef<'a, Node>) -> bool {
        match node.value() {
            Node::Text(t) => {
                self.push_text(t);
                false
            }
            Node::Element(e) => self.open_element(node, e),
            _ => false,
        }
    }

    fn open_element(&mut self, node: NodeRef<'a, Node>, e: &'a scraper::node::Element) -> bool {
        let name = e.name();
        let kind = kind(name);
        if kind == Kind::Skip {
            self.skipped_element(node, e, name);
            return false;
        }
        if kind == Kind::Break {
            // A line break inside running text; two of them are how many
            // pages without <p> mark paragraphs.
            self.pending_break = true;
            return false;
        }
        let parent = self.stack.last().copied();
        let mut boiler = parent.map_or(NONE, |f| f.boiler);
        let mut block_tag = parent.map_or(BlockTag::Other, |f| f.block_tag);
        let link = parent.is_some_and(|f| f.link) || kind == Kind::Link;
        let idx = self.page.elements.len() as u32;
        let mut structural = kind == Kind::BoilerBlock;
        let mut named = Hint::None;
        let mut hint_key = NONE;
        let mut article_body = false;
        let mut is_byline = false;
        let mut hidden = parent.is_some_and(|f| f.hidden);
        for (attr, value) in e.attrs() {
            match attr {
                "class" | "id" => {
                    let scratch = &mut self.scratch;
                    let layout_keys = &mut self.layout_keys;
                    let keys = &mut self.page.hint_keys;
                    let (hint, key) = *self.hint_cache.entry(value).or_insert_with(|| {
                        let hint = class_hint(value, scratch);
                        if !matches!(hint, Hint::Layout | Hint::Embed) {
                            return (hint, NONE);
                        }
                        // `elementor-element-1b0f887a`: numbered names of
                        // one kind of component are one key, and so are
                        // its places (`panel-first-child`): only the words
                        // that name the component count.
                        let kind: Vec<&str> = value
                            .split_ascii_whitespace()
                            .filter(|w| !w.bytes().any(|b| b.is_ascii_digit()))
                            .filter(|w| {
                                let w = w.to_ascii_lowercase();
                                w.contains("widget") || w.contains("embed") || w == "tweet"
                            })
                            .collect();
                        let key = *layout_keys.entry(kind.join(" ")).or_insert_with(|| {
                            *keys += 1;
                            *keys - 1
                        });
                        (hint, key)
                    });
                    if strength(hint) > strength(named) {
                        named = hint;
                    }
                    // The class names the kind of element; an id is unique.
                    if key != NONE && (hint_key == NONE || attr == "class") {
                        hint_key = key;
                    }
                    if hint == Hint::Name && (value.contains("byline") || value.contains("author"))
                    {
                        is_byline = true;
                    }
                }
                "role" => structural |= BOILER_ROLES.contains(&value.trim()),
                "hidden" => hidden = true,
                "aria-hidden" if value == "true" => hidden = true,
                "style" if is_hidden_style(value) => hidden = true,
                "itemprop" => match value {
                    "articleBody" => article_body = true,
                    "author" => is_byline = true,
                    "datePublished" if !hidden => self.take_time(e),
                    _ => {}
                },
                "rel" if kind == Kind::Link && value == "author" => is_byline = true,
                "lang" if name == "html" && !value.trim().is_empty() => {
                    self.page.meta.lang = Some(value.trim().to_owned())
                }
                _ => {}
            }
        }
        if matches!(name, "html" | "body" | "main") {
            (structural, named, hint_key) = (false, Hint::None, NONE);
        }
        if name == "time" && !hidden {
            self.take_time(e);
        }
        let block = match kind {
            Kind::Block(tag) => {
                block_tag = tag;
                true
            }
            Kind::BoilerBlock => {
                block_tag = BlockTag::Other;
                true
            }
            _ => false,
        };
        if block {
            self.flush();
        }
        structural |= kind == Kind::Block(BlockTag::Caption);
        let hint = if structural { Hint::Structure } else { named };
        if hint != Hint::None {
            boiler = idx;
        }
        let depth = self.stack.len();
        if name == "h1" && !hidden && self.page.meta.h1.is_none() && self.h1.depth.is_none() {
            self.h1.depth = Some(depth);
        }
        if is_byline && !hidden && self.page.meta.byline.is_none() && self.byline.depth.is_none() {
            self.byline.depth = Some(depth);
        }
        self.page.elements.push(Element {
            parent: parent_el(&self.stack),
            last: idx,
            hint,
            article_body,
            hint_key,
        });
        self.stack.push(Frame {
            el: idx,
            boiler,
            block_tag,
            link,
            block,
            quote: parent.is_some_and(|f| f.quote) || block_tag == BlockTag::Quote,
            hidden,
        });
        true
    }

    /// Elements whose content is never article text may still carry metadata.
    fn skipped_element(&mut self, node: NodeRef<'_, Node>, e: &scraper::node::Element, name: &str) {
        match name {
            "title" if self.page.meta.title.is_none() => {
                self.page.meta.title = Some(collapse_ws(&child_text(node)));
            }
            "script"
                if e.attr("type")
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json")) =>
            {
                self.page.meta.json_ld.push(child_text(node));
            }
            _ => {}
        }
        // `<meta>` and `<link>` live in `<head>`, which is skipped for text
        // but whose children matter here.
        if name == "head" {
            for child in node.children() {
                if let Node::Element(ce) = child.value() {
                    match ce.name() {
                        "meta" => self.take_meta(ce),
                        "link" => self.take_link(ce),
                        other => self.skipped_element(child, ce, other),
                    }
                }
            }
        }
    }

    fn take_meta(&mut self, e: &scraper::node::Element) {
        let key = e
            .attr("property")
            .or_else(|| e.attr("name"))
            .or_else(|| e.attr("itemprop"))
            .or_else(|| e.attr("http-equiv"));
        if let (Some(key), Some(content)) = (key, e.attr("content")) {
            let key = key.trim().to_ascii_lowercase();
            let content = content.trim();
            if wanted_meta(&key) && !content.is_empty() {
                self.page.meta.metas.push((key, content.to_owned()));
            }
        }
    }

    fn take_link(&mut self, e: &scraper::node::Element) {
        let canonical = e.attr("rel").is_some_and(|r| {
            r.split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("canonical"))
        });
        if canonical && self.page.meta.canonical.is_none() {
            self.page.meta.canonical = e.attr("href").map(|h| h.trim().to_owned());
        }
    }

    fn take_time(&mut self, e: &scraper::node::Element) {
        if self.page.meta.time.is_none() {
            self.page.meta.time = e
                .attr("datetime")
                .or_else(|| e.attr("content"))
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty());
        }
    }

    fn close(&mut self) {
        let depth = self.stack.len().saturating_sub(1);
        let Some(frame) = self.stack.pop() else {
            return;
        };
        if frame.block {
            self.flush_as(Some(frame));
        }
        if let Some(h1) = self.h1.end(depth) {
            self.page.meta.h1 = Some(h1);
        }
        if let Some(by) = self.byline.end(depth) {
            self.page.meta.byline = Some(by);
        }
        let last = self.page.elements.len() as u32 - 1;
        self.page.elements[frame.el as usize].last = last;
    }

    fn push_text(&mut self, t: &str) {
        let depth = self.stack.len();
        self.h1.push(depth, t);
        self.byline.push(depth, t);
        let link = self.stack.last().is_some_and(|f| f.link);
        let (mut n, mut first) = (0u32, None);
        if t.is_ascii() {
            // Most text is ASCII: split on bytes, without decoding chars.
            let b = t.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i].is_ascii_whitespace() {
                    self.pending_space = true;
                    i += 1;
                    continue;
                }
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                self.push_word(&t[start..i], &mut n, &mut first);
            }
        } else {
            for (i, word) in t.split(char::is_whitespace).enumerate() {
                if i > 0 {
                    self.pending_space = true;
                }
                if !word.is_empty() {
                    self.push_word(word, &mut n, &mut first);
                }
            }
        }
        let all_link_before = self.link_chars == self.chars;
        self.chars += n;
        if link {
            if all_link_before {
                self.lead_link_chars += n;
            }
            self.link_chars += n;
        } else if all_link_before
            && first.is_some_and(|c| c.is_lowercase() || ",.;:!?)'’–—-".contains(c))
        {
            // The sentence goes on after the link: prose, not a headline; or
            // a dash annotates it ("Breville BBM800XL – the priciest"): an
            // entry of the article's list, not a teaser.
            self.lead_link_chars = 0;
        }
    }

    /// Appends one whitespace-free word to the current block, after the
    /// separator that pending whitespace or a `<br>` calls for.
    fn push_word(&mut self, word: &str, n: &mut u32, first: &mut Option<char>) {
        let ascii = word.is_ascii();
        if !ascii && word.chars().all(invisible) {
            return;
        }
        if self.page.text.len() > self.block_start {
            if self.pending_break {
                self.page.text.push('\n');
            } else if self.pending_space {
                self.page.text.push(' ');
            }
        }
        self.pending_space = false;
        self.pending_break = false;
        if ascii {
            self.page.text.push_str(word);
            *n += word.len() as u32;
            *first = first.or(word.chars().next());
        } else {
            for c in word.chars().filter(|&c| !invisible(c)) {
                self.page.text.push(c);
                first.get_or_insert(c);
                *n += 1;
            }
        }
    }

    fn flush(&mut self) {
        self.flush_as(self.stack.last().copied());
    }

    /// Ends the current block, if it has text, as belonging to the element
    /// of `frame`.
    fn flush_as(&mut self, frame: Option<Frame>) {
        self.pending_space = false;
        self.pending_break = false;
        let Some(frame) = frame.filter(|_| self.chars > 0) else {
            self.page.text.truncate(self.block_start);
            self.chars = 0;
            self.link_chars = 0;
            self.lead_link_chars = 0;
            return;
        };
        let block = Block {
            start: self.block_start as u32,
            end: self.page.text.len() as u32,
            chars: self.chars,
            link_chars: self.link_chars,
            lead_link_chars: self.lead_link_chars,
            el: frame.el,
            tag: frame.block_tag,
            boiler: frame.boiler,
            in_quote: frame.quote,
            hidden: frame.hidden,
            card: false,
        };
        self.page.blocks.push(block);
        self.block_start = self.page.text.len();
        self.chars = 0;
        self.link_chars = 0;
        self.lead_link_chars = 0;
    }
}

fn parent_el(stack: &[Frame]) -> u32 {
    stack.last().map_or(NONE, |f| f.el)
}

/// Characters that take no room in text and only split words for the
/// metric and for readers (zero-width spaces, soft hyphens, BOMs).
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{feff}' | '\u{ad}'
    )
}

fn child_text(node: NodeRef<'_, Node>) -> String {
    node.children()
        .filter_map(|c| c.value().as_text().map(|t| &**t))
        .collect()
}

/// Runs of whitespace to one space, trimmed.
pub fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}
