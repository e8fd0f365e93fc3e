//! Generated hostile pages: markup that costs an HTML tree builder work
//! super-linear in its size unless the extractor cuts it short. Shared by the
//! extraction tests (`tests/it/extract.rs`) and the hostile bench
//! (`benches/hostile.rs`), which include this file by path.
//!
//! Every page opens with [`ARTICLE`] as its one real paragraph, then repeats
//! one hostile pattern up to the requested size.

/// The article text every hostile page starts with.
pub const ARTICLE: &str = "The council approved the harbour budget on Tuesday after a long debate \
     about the cost of dredging the old channel and the fate of the fishing fleet.";

/// One kind of hostile page.
pub struct Kind {
    pub name: &'static str,
    /// Markup between the article and the repeated part.
    setup: fn() -> String,
    /// The `i`-th repetition.
    unit: fn(usize, &mut String),
    /// Markup after the repeated part.
    tail: &'static str,
}

fn none() -> String {
    String::new()
}

/// The kinds of hostile markup, each defeating a naive depth count or
/// hitting another slow path of the HTML tree-building rules.
pub const KINDS: &[Kind] = &[
    // `/>` does not close a non-void HTML element: each div nests.
    Kind {
        name: "self_closing_divs",
        setup: none,
        unit: |_, s| s.push_str("<div/>"),
        tail: "",
    },
    // An end tag without a matching open element is ignored.
    Kind {
        name: "stray_end_tags",
        setup: none,
        unit: |_, s| s.push_str("<div></b>"),
        tail: "",
    },
    // Formatting elements closed out of order (the adoption agency).
    Kind {
        name: "misnested_formatting",
        setup: none,
        unit: |_, s| s.push_str("<b><i></b></i><p><em><div></em>"),
        tail: "",
    },
    // Distinct formatting elements left open across paragraphs are all
    // reopened in each new paragraph (no "Noah's Ark" pruning).
    Kind {
        name: "reopened_formatting",
        setup: none,
        unit: |i, s| {
            use std::fmt::Write;
            let _ = write!(s, "<p><b class=c{i}>x</p>");
        },
        tail: "",
    },
    // Many distinct open formatting elements of one name, then more of
    // them opened and closed: each is compared with all the open ones.
    Kind {
        name: "long_formatting_list",
        setup: || (0..200).map(|i| format!("<b id=b{i}>")).collect(),
        unit: |_, s| s.push_str("<b id=x>y</b>"),
        tail: "",
    },
    // Each new `<a>` closes the previous one through the adoption agency.
    Kind {
        name: "unclosed_links",
        setup: none,
        unit: |_, s| s.push_str("<a href=x><div>"),
        tail: "",
    },
    Kind {
        name: "deep_tables",
        setup: none,
        unit: |_, s| s.push_str("<table><tr><td>"),
        tail: "",
    },
    // Content inside a table but outside its cells moves before the table.
    Kind {
        name: "foster_parented",
        setup: || "<table><tr>".to_owned(),
        unit: |_, s| s.push_str("x<span><table><tr>"),
        tail: "",
    },
    Kind {
        name: "deep_lists",
        setup: none,
        unit: |_, s| s.push_str("<ul><li>"),
        tail: "",
    },
    // One element with a huge list of distinct attributes.
    Kind {
        name: "huge_attribute_list",
        setup: || "<div".to_owned(),
        unit: |i, s| {
            use std::fmt::Write;
            let _ = write!(s, " a{i}");
        },
        tail: "",
    },
    Kind {
        name: "endless_inline",
        setup: none,
        unit: |_, s| s.push_str("<span>x"),
        tail: "",
    },
    Kind {
        name: "p_in_button",
        setup: none,
        unit: |_, s| s.push_str("<button><p><span>"),
        tail: "",
    },
    // Markup that a scan for `-->` or for a raw-text end would skip but
    // the parser does not: `<!-->` is a whole comment, `<style>` in SVG is
    // markup, and a `>` in a quoted attribute value does not end the tag.
    // The smallest tokens, with no nesting at all: each costs the parser
    // about as much as a larger one.
    Kind {
        name: "tiny_elements",
        setup: none,
        unit: |_, s| s.push_str("<p>x"),
        tail: "",
    },
    // Every line break is a token of its own.
    Kind {
        name: "line_breaks",
        setup: || "<p>".to_owned(),
        unit: |_, s| s.push('\n'),
        tail: "",
    },
    Kind {
        name: "character_references",
        setup: || "<p>".to_owned(),
        unit: |_, s| s.push_str("&amp;"),
        tail: "",
    },
    Kind {
        name: "comments",
        setup: none,
        unit: |_, s| s.push_str("<!---->"),
        tail: "",
    },
    // An end tag that matches nothing searches all the open elements.
    Kind {
        name: "scope_searches",
        setup: || "<span>".repeat(200),
        unit: |_, s| s.push_str("</x>"),
        tail: "",
    },
    // Script text full of `<`, which a scan for its end tag must not
    // look at again and again.
    Kind {
        name: "script_of_less_thans",
        setup: || "<script><!--".to_owned(),
        unit: |_, s| s.push_str("a<b<c<d/"),
        tail: "</script>",
    },
    Kind {
        name: "title_of_many_parts",
        setup: || "<title>".to_owned(),
        unit: |_, s| s.push_str("part | "),
        tail: "end</title>",
    },
    Kind {
        name: "json_ld_lines",
        setup: || {
            format!(
                r#"<script type="application/ld+json">{{"@type":"NewsArticle","articleBody":"{ARTICLE}\n"#
            )
        },
        unit: |_, s| s.push_str("line &amp; more\\n"),
        tail: r#""}</script>"#,
    },
    Kind {
        name: "hidden_from_a_scan",
        setup: || "<!--><svg><style><div a='><!--'>".to_owned(),
        unit: |_, s| s.push_str("<div/>"),
        tail: "",
    },
];

impl Kind {
    /// A page of about `size` bytes (not more).
    pub fn page(&self, size: usize) -> String {
        let mut page = format!("<!doctype html><html><body><p>{ARTICLE}</p>");
        page.push_str(&(self.setup)());
        let mut unit = String::new();
        for i in 0.. {
            unit.clear();
            (self.unit)(i, &mut unit);
            if page.len() + unit.len() + self.tail.len() > size {
                break;
            }
            page.push_str(&unit);
        }
        page.push_str(self.tail);
        page
    }

    /// A page of `n` repetitions.
    pub fn repeated(&self, n: usize) -> String {
        let mut page = format!("<!doctype html><html><body><p>{ARTICLE}</p>");
        page.push_str(&(self.setup)());
        for i in 0..n {
            (self.unit)(i, &mut page);
        }
        page.push_str(self.tail);
        page
    }
}

/// The kind called `name`.
pub fn kind(name: &str) -> &'static Kind {
    KINDS
        .iter()
        .find(|k| k.name == name)
        .unwrap_or_else(|| panic!("no hostile kind {name}"))
}
