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
    },
    // An end tag without a matching open element is ignored.
    Kind {
        name: "stray_end_tags",
        setup: none,
        unit: |_, s| s.push_str("<div></b>"),
    },
    // Formatting elements closed out of order (the adoption agency).
    Kind {
        name: "misnested_formatting",
        setup: none,
        unit: |_, s| s.push_str("<b><i></b></i><p><em><div></em>"),
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
    },
    // Many distinct open formatting elements of one name, then more of
    // them opened and closed: each is compared with all the open ones.
    Kind {
        name: "long_formatting_list",
        setup: || (0..200).map(|i| format!("<b id=b{i}>")).collect(),
        unit: |_, s| s.push_str("<b id=x>y</b>"),
    },
    // Each new `<a>` closes the previous one through the adoption agency.
    Kind {
        name: "unclosed_links",
        setup: none,
        unit: |_, s| s.push_str("<a href=x><div>"),
    },
    Kind {
        name: "deep_tables",
        setup: none,
        unit: |_, s| s.push_str("<table><tr><td>"),
    },
    // Content inside a table but outside its cells moves before the table.
    Kind {
        name: "foster_parented",
        setup: || "<table><tr>".to_owned(),
        unit: |_, s| s.push_str("x<span><table><tr>"),
    },
    Kind {
        name: "deep_lists",
        setup: none,
        unit: |_, s| s.push_str("<ul><li>"),
    },
    // One element with a huge list of distinct attributes.
    Kind {
        name: "huge_attribute_list",
        setup: || "<div".to_owned(),
        unit: |i, s| {
            use std::fmt::Write;
            let _ = write!(s, " a{i}");
        },
    },
    Kind {
        name: "endless_inline",
        setup: none,
        unit: |_, s| s.push_str("<span>x"),
    },
    Kind {
        name: "p_in_button",
        setup: none,
        unit: |_, s| s.push_str("<button><p><span>"),
    },
    // Markup that a scan for `-->` or for a raw-text end would skip but
    // the parser does not: `<!-->` is a whole comment, `<style>` in SVG is
    // markup, and a `>` in a quoted attribute value does not end the tag.
    Kind {
        name: "hidden_from_a_scan",
        setup: || "<!--><svg><style><div a='><!--'>".to_owned(),
        unit: |_, s| s.push_str("<div/>"),
    },
];

impl Kind {
    /// A page of about `size` bytes.
    pub fn page(&self, size: usize) -> String {
        let mut page = format!("<!doctype html><html><body><p>{ARTICLE}</p>");
        page.push_str(&(self.setup)());
        let mut i = 0;
        while page.len() < size {
            (self.unit)(i, &mut page);
            i += 1;
        }
        page
    }

    /// A page of `n` repetitions.
    pub fn repeated(&self, n: usize) -> String {
        let mut page = format!("<!doctype html><html><body><p>{ARTICLE}</p>");
        page.push_str(&(self.setup)());
        for i in 0..n {
            (self.unit)(i, &mut page);
        }
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
