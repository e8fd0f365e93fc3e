use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use tidings::extract::{ExtractError, Options, decode, extract, fragment_text};

#[path = "hostile.rs"]
mod hostile;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/extract/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn paragraphs(text: &str) -> Vec<&str> {
    text.split("\n\n").collect()
}

const NEWS_URL: &str = "https://gazette.example/world/prisoner-exchange?utm_source=feed";

#[test]
fn news_page_keeps_the_article_and_drops_the_furniture() {
    let ex = extract(
        &fixture("news_page.html"),
        None,
        Some(NEWS_URL),
        &Options::default(),
    )
    .expect("extracts");
    let paras = paragraphs(&ex.text);
    assert!(
        paras[0].starts_with("Delegations meeting in Geneva agreed late on Thursday"),
        "first paragraph: {:?}",
        paras[0]
    );
    assert!(
        paras
            .last()
            .unwrap()
            .ends_with("as the delegations left the building."),
        "last paragraph: {:?}",
        paras.last()
    );
    assert!(ex.text.contains("What comes next"), "subheading kept");
    assert!(
        ex.text
            .contains("Forty names, one checkpoint, Monday at dawn."),
        "embedded post kept: {:?}",
        ex.text
    );
    for furniture in [
        "Politics",
        "cookies",
        "Share on Facebook",
        "Maren Holt",
        "lakeside conference hall",
        "newsletter",
        "Related stories",
        "Families of detainees",
        "good news from these talks",
        "buses actually cross",
        "All rights reserved",
        "Negotiators agree",
        "Follow us on Twitter",
    ] {
        assert!(
            !ex.text.contains(furniture),
            "{furniture:?} leaked into {:?}",
            ex.text
        );
    }
}

#[test]
fn news_page_metadata() {
    let ex = extract(
        &fixture("news_page.html"),
        None,
        Some(NEWS_URL),
        &Options::default(),
    )
    .expect("extracts");
    assert_eq!(
        ex.title.as_deref(),
        Some("Negotiators agree on prisoner exchange schedule")
    );
    assert_eq!(
        ex.canonical_url.as_deref(),
        Some("https://gazette.example/world/2024/03/15/prisoner-exchange-schedule")
    );
    assert_eq!(
        ex.published_at,
        Some(Utc.with_ymd_and_hms(2024, 3, 15, 8, 30, 0).unwrap())
    );
    assert_eq!(ex.byline.as_deref(), Some("Maren Holt"));
    assert_eq!(ex.language.as_deref(), Some("en"));
    assert_eq!(
        ex.description.as_deref(),
        Some("Delegations meeting in Geneva settled the order of a staged exchange.")
    );
}

#[test]
fn title_falls_back_to_html_title_without_site_suffix() {
    let page = b"<html><head><title>Harbour reopens to grain ships | Coast Daily</title></head>\
        <body><p>The harbour reopened to grain ships on Friday after the mines in the approach channel were cleared by divers.</p></body></html>";
    let ex = extract(page, None, None, &Options::default()).expect("extracts");
    assert_eq!(ex.title.as_deref(), Some("Harbour reopens to grain ships"));
}

#[test]
fn publication_date_comes_from_the_url_when_the_page_has_none() {
    let page = b"<html><body><p>The harbour reopened to grain ships on Friday after the mines in the approach channel were cleared.</p></body></html>";
    let ex = extract(
        page,
        None,
        Some("https://coast.example/2023/11/04/harbour"),
        &Options::default(),
    )
    .expect("extracts");
    assert_eq!(
        ex.published_at,
        Some(Utc.with_ymd_and_hms(2023, 11, 4, 0, 0, 0).unwrap())
    );
    assert_eq!(ex.canonical_url, None, "no canonical link, no og:url");
}

fn assert_russian_article(bytes: &[u8], content_type: Option<&str>) {
    let ex = extract(bytes, content_type, None, &Options::default()).expect("extracts");
    assert_eq!(
        ex.title.as_deref(),
        Some("Переговоры о перемирии возобновятся в понедельник")
    );
    let paras = paragraphs(&ex.text);
    assert_eq!(paras.len(), 3, "{:?}", ex.text);
    assert!(paras[0].starts_with("Делегации двух сторон договорились встретиться снова"));
    assert!(paras[2].ends_with("ждут, когда откроются школы."));
    assert!(!ex.text.contains("Главная") && !ex.text.contains("Перепечатка"));
    assert_eq!(ex.language.as_deref(), Some("ru"), "detected from the text");
}

#[test]
fn cp1251_without_charset() {
    assert_russian_article(&fixture("cp1251_without_charset.html"), None);
}

#[test]
fn koi8r_with_meta_charset() {
    assert_russian_article(&fixture("koi8r_with_meta.html"), None);
}

#[test]
fn koi8r_without_charset() {
    assert_russian_article(&fixture("koi8r_without_charset.html"), None);
}

#[test]
fn content_type_header_charset_wins_over_guessing() {
    let page = fixture("koi8r_without_charset.html");
    assert_russian_article(&page, Some("text/html; charset=KOI8-R"));
    // A declared charset is trusted over the guess, right or wrong.
    let misdeclared = decode(&page, Some("text/html; charset=windows-1251"));
    assert!(!misdeclared.contains("Переговоры"), "{misdeclared}");
}

#[test]
fn utf8_bom_is_honoured_and_stripped() {
    let mut page = vec![0xEF, 0xBB, 0xBF];
    page.extend_from_slice("<p>Тишина</p>".as_bytes());
    assert_eq!(
        decode(&page, Some("text/html; charset=windows-1252")),
        "<p>Тишина</p>"
    );
}

#[test]
fn json_ld_article_body_replaces_a_truncated_page_body() {
    let ex = extract(
        &fixture("jsonld_body.html"),
        None,
        None,
        &Options::default(),
    )
    .expect("extracts");
    let paras = paragraphs(&ex.text);
    assert_eq!(paras.len(), 4, "{:?}", ex.text);
    assert!(paras[1].starts_with("The mission had been due to wind down in June"));
    assert!(
        paras[2].contains("twenty additional observers & interpreters"),
        "{}",
        paras[2]
    );
    assert!(paras[3].ends_with("instead of the monthly report used until now."));
    assert!(!ex.text.contains("Subscribe"));
    assert_eq!(
        ex.published_at,
        Some(Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap())
    );
    assert_eq!(
        ex.title.as_deref(),
        Some("Ceasefire monitors extend their mission")
    );
}

#[test]
fn page_over_the_size_cap_is_refused() {
    let page = fixture("news_page.html");
    let opts = Options {
        max_html_bytes: page.len() - 1,
    };
    match extract(&page, None, None, &opts) {
        Err(e @ ExtractError::TooLarge { .. }) => {
            assert!(e.to_string().contains(&page.len().to_string()), "{e}")
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let huge = vec![b'a'; Options::default().max_html_bytes + 1];
    assert!(matches!(
        extract(&huge, None, None, &Options::default()),
        Err(ExtractError::TooLarge { .. })
    ));
}

#[test]
fn empty_and_binary_inputs_are_errors() {
    let opts = Options::default();
    assert!(matches!(
        extract(b"", None, None, &opts),
        Err(ExtractError::Empty)
    ));
    assert!(matches!(
        extract(b" \n\t ", None, None, &opts),
        Err(ExtractError::Empty)
    ));
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0\x1f\xf3\xffa";
    assert!(matches!(
        extract(png, None, None, &opts),
        Err(ExtractError::Binary)
    ));
    assert!(matches!(
        extract(
            b"<html><body><nav><a href=/>Home</a></nav></body></html>",
            None,
            None,
            &opts
        ),
        Err(ExtractError::NoText)
    ));
}

/// html5ever's work grows with the square of the nesting depth, so markup
/// nested past any real page's depth is cut off, keeping what came before.
#[test]
fn pathological_nesting_is_cut_and_the_text_before_it_kept() {
    let depth = 100_000;
    let mut page = String::from(
        "<html><body><p>An ordinary paragraph comes first, long enough to count as article text.</p>",
    );
    page.push_str(&"<div>".repeat(depth));
    page.push_str("<p>Buried deep in the markup is a second paragraph that is never reached.</p>");
    page.push_str(&"</div>".repeat(depth));
    let ex = extract(page.as_bytes(), None, None, &Options::default()).expect("extracts");
    assert_eq!(
        ex.text,
        "An ordinary paragraph comes first, long enough to count as article text."
    );
}

/// What a hostile page gives: its article, and nothing of the paragraph
/// that follows the hostile markup, which the guard cuts off.
fn extract_hostile(mut page: String) -> String {
    page.push_str("<p>Buried after the hostile markup is a paragraph that the guard cuts off.</p>");
    extract(page.as_bytes(), None, None, &Options::default())
        .expect("extracts")
        .text
}

/// html5ever ignores `/>` on a non-void HTML element: 100 000 `<div/>`
/// nest 100 000 deep unless the guard counts them.
#[test]
fn self_closing_divs_are_cut_and_the_article_kept() {
    let page = hostile::kind("self_closing_divs").repeated(100_000);
    assert_eq!(extract_hostile(page), hostile::ARTICLE);
}

/// An end tag that closes nothing is ignored: `<div></b>` nests.
#[test]
fn stray_end_tags_are_cut_and_the_article_kept() {
    let page = hostile::kind("stray_end_tags").repeated(100_000);
    assert_eq!(extract_hostile(page), hostile::ARTICLE);
}

/// Every kind of hostile page extracts (cut where the guard must cut) with
/// the article that comes before the hostile markup.
#[test]
fn hostile_pages_keep_the_article_before_them() {
    for kind in hostile::KINDS {
        let page = kind.page(512 << 10);
        let ex = extract(page.as_bytes(), None, None, &Options::default())
            .unwrap_or_else(|e| panic!("{}: {e}", kind.name));
        assert!(
            ex.text.contains(hostile::ARTICLE),
            "{}: {:?}",
            kind.name,
            ex.text.get(..200).unwrap_or(&ex.text)
        );
    }
}

#[test]
fn feed_fragment_becomes_paragraphs() {
    let text = fragment_text(
        "<p>First <b>bold</b> line.</p><script>var x = 1;</script><p>Second line<br>third line.</p>",
    );
    assert_eq!(text, "First bold line.\n\nSecond line\n\nthird line.");
}

fn mutate(page: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut out = page.to_vec();
    for &(pos, byte) in edits {
        match byte % 3 {
            0 if !out.is_empty() => {
                let i = pos % out.len();
                out[i] = byte;
            }
            1 if !out.is_empty() => {
                out.remove(pos % out.len());
            }
            _ => out.insert(pos % (out.len() + 1), byte),
        }
    }
    out
}

/// Sentences of running prose, each different, `n` of them from `seed`.
fn prose(seed: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("The {seed} section goes on with point {i}, which a reader follows to the end of the sentence."))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn article_split_over_builder_widgets_is_kept_whole_and_the_sidebar_dropped() {
    // A page builder wraps every section in the same `widget` class, and the
    // sidebar's text boxes are widgets too.
    let section = |name: &str| {
        format!(
            r#"<div class="pb-element pb-element-{name}7f3 pb-widget"><div class="pb-widget-container">
               <h2>About the {name}</h2><p>{}</p><p>{}</p></div></div>"#,
            prose(name, 3),
            prose(&format!("{name} second"), 2)
        )
    };
    let page = format!(
        r#"<html><body><div class="page"><div class="content">{}{}{}</div>
           <aside class="sidebar"><div class="textwidget"><p>{}</p></div></aside></div></body></html>"#,
        section("harbour"),
        section("lighthouse"),
        section("ferry"),
        prose("sidebar advertisement", 2)
    );
    let ex = extract(page.as_bytes(), None, None, &Options::default()).expect("extracts");
    for part in [
        "harbour section",
        "lighthouse section",
        "ferry second section",
    ] {
        assert!(
            ex.text.contains(part),
            "{part:?} missing from {:?}",
            ex.text
        );
    }
    assert!(
        !ex.text.contains("sidebar"),
        "sidebar leaked: {:?}",
        ex.text
    );
}

#[test]
fn article_whose_every_container_looks_like_furniture_is_still_found() {
    // The post sits in a `<header>` whose class also says `meta`: under the
    // hints nothing scores, yet a reader sees the article at once.
    let page = format!(
        r#"<html><body><nav><a href="/">Home</a> <a href="/blog">Blog</a></nav>
           <header class="post-meta-section"><h1>Tending a winter garden</h1>
           <p>{}</p><p>{}</p><p>{}</p></header>
           <footer><p>Copyright 2026 Garden Notes</p></footer></body></html>"#,
        prose("frost", 3),
        prose("mulch", 3),
        prose("seedling", 3)
    );
    let ex = extract(page.as_bytes(), None, None, &Options::default()).expect("extracts");
    for part in ["frost section", "mulch section", "seedling section"] {
        assert!(
            ex.text.contains(part),
            "{part:?} missing from {:?}",
            ex.text
        );
    }
    assert!(
        !ex.text.contains("Copyright"),
        "footer leaked: {:?}",
        ex.text
    );
}

fn article_text(body: &str) -> String {
    let page = format!(
        r#"<html><body><nav><a href="/">Home</a> <a href="/news">News</a></nav>
           <article>{body}</article>
           <footer><p>Copyright 2026 Harbour Notes</p></footer></body></html>"#
    );
    extract(page.as_bytes(), None, None, &Options::default())
        .expect("extracts")
        .text
}

fn assert_has(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} missing from {text:?}");
    }
}

#[test]
fn a_list_of_links_the_article_announces_is_kept() {
    let items: String = (1..=6)
        .map(|i| format!(r#"<li><p><a href="https://forge.example/pulls/{i}">libjit: fix number {i} in the backend</a></p></li>"#))
        .collect();
    let text = article_text(&format!(
        "<p>{}</p><p>Many patches were sent for review this month:</p><ul>{items}</ul><p>{}</p>",
        prose("compiler", 3),
        prose("release", 3)
    ));
    assert_has(
        &text,
        &[
            "libjit: fix number 1",
            "libjit: fix number 6",
            "release section",
        ],
    );
}

#[test]
fn the_entries_of_one_list_share_one_fate() {
    // A directory: most entries describe the place at length, some give
    // only a linked name and an address, which alone reads as a teaser.
    let long = |i: usize| {
        format!(
            r#"<li><a href="https://clinic{i}.example/">Clinic number {i}</a><br>{} street {i}<br>{}</li>"#,
            100 + i,
            prose(&format!("clinic {i}"), 1)
        )
    };
    let short = |i: usize| {
        format!(
            r#"<li><a href="https://clinic{i}.example/">Counseling Center number {i}</a><br>{} street {i}</li>"#,
            100 + i
        )
    };
    let items = [long(1), short(2), long(3), long(4), short(5)].concat();
    let text = article_text(&format!(
        "<p>{}</p><ul>{items}</ul><p>{}</p>",
        prose("directory", 3),
        prose("fees", 3)
    ));
    assert_has(
        &text,
        &[
            "Counseling Center number 2",
            "Counseling Center number 5",
            "clinic 4 section",
        ],
    );
}

#[test]
fn a_linked_name_annotated_after_a_dash_is_an_entry_not_a_teaser() {
    let items: String = (1..=4)
        .map(|i| format!(r#"<li><a href="https://shop.example/{i}">Bread Maker Model {i} Deluxe Edition</a> – has {i} settings for white, whole wheat and French loaves, and a delay timer</li>"#))
        .collect();
    let text = article_text(&format!(
        "<p>{}</p><ul>{items}</ul><p>{}</p>",
        prose("bread", 3),
        prose("loaf", 3)
    ));
    assert_has(
        &text,
        &[
            "Bread Maker Model 1 Deluxe Edition – has 1 settings",
            "Model 4",
        ],
    );
}

#[test]
fn the_heading_before_the_first_paragraph_is_kept() {
    let text = article_text(&format!(
        "<h2>What is a harbour pilot?</h2><p>{}</p><h2>Training</h2><p>{}</p>",
        prose("pilot", 3),
        prose("training", 3)
    ));
    assert!(text.starts_with("What is a harbour pilot?"), "{text:?}");
    assert_has(&text, &["Training", "training section"]);
}

#[test]
fn bylines_dates_and_reading_times_are_not_article_text() {
    let text = article_text(&format!(
        "<p>{}</p><p>By Jane Roe</p><p>Updated March 9, 2026</p><p>Bridgestone Team | 5 min read</p>\
         <p>{}</p><p>By the end of the year the harbour will have a second pier.</p><p>{}</p>",
        prose("lead", 2),
        prose("pier", 3),
        prose("quay", 3)
    ));
    for credit in ["Jane Roe", "Updated", "min read"] {
        assert!(!text.contains(credit), "{credit:?} kept in {text:?}");
    }
    assert_has(
        &text,
        &["By the end of the year", "pier section", "quay section"],
    );
}

#[test]
fn a_section_of_other_pages_after_the_article_is_cut() {
    // Cards of other stories whose summaries are plain text: no link
    // density tells them from the article, their sign does.
    let cards: String = (1..=3)
        .map(|i| format!("<p>{}</p>", prose(&format!("other story {i}"), 1)))
        .collect();
    let text = article_text(&format!(
        "<p>{}</p><p>{}</p><p>{}</p><p>More from Harbour Notes:</p>{cards}",
        prose("harbour", 3),
        prose("pier", 3),
        prose("quay", 3)
    ));
    assert_has(&text, &["harbour section", "quay section"]);
    assert!(!text.contains("other story"), "{text:?}");
    // A heading that only starts like a sign is the article's own.
    let text = article_text(&format!(
        "<p>{}</p><p>{}</p><h2>Recommended posting frequency</h2><p>{}</p>",
        prose("harbour", 3),
        prose("pier", 3),
        prose("quay", 3)
    ));
    assert_has(&text, &["Recommended posting frequency", "quay section"]);
}

// Few cases here so `cargo test` stays quick; the long run sets PROPTEST_CASES.
proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = extract(&bytes, None, Some("https://x.example/2020/01/02/a"), &Options::default());
        let _ = fragment_text(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_pages_never_panic(
        which in 0usize..5,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..64),
    ) {
        let names = ["news_page.html", "jsonld_body.html", "cp1251_without_charset.html",
            "koi8r_with_meta.html", "koi8r_without_charset.html"];
        let page = mutate(&fixture(names[which]), &edits);
        let _ = extract(&page, None, Some("https://x.example/a"), &Options::default());
    }
}
