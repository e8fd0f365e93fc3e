//! Choosing the article body among the page's text blocks.

use std::collections::HashMap;

use super::dom::{Block, BlockTag, Hint, NONE, Page};

/// A class/id boilerplate hint on an element holding at least this share of
/// the page's paragraph text, in several paragraphs, is wrong
/// (`content-with-sidebar`, a `has-comments` wrapper): the article does not
/// sit inside its own furniture.
const OVERRULED_HINT_SHARE: f32 = 0.5;

/// The elements of one component class (see [`valid_hints`]) holding at
/// least this share of the page's paragraph text, in several paragraphs,
/// are article structure: furniture widgets do not hold a fifth of a page's
/// running text between them, while the product boxes of a review or the
/// panels of a builder page often hold a third or less of the article.
const SHARED_HINT_SHARE: f32 = 0.2;

/// Microdata `itemprop=articleBody` is the publisher's own word on where the
/// article is; it tips the choice between close candidates.
const ARTICLE_BODY_BONUS: f32 = 1.5;

/// A sibling of the best element scoring at least this share of its score
/// is part of the article too.
const SIBLING_SHARE: f32 = 0.2;

/// See [`widened`].
const WIDEN_BELOW: f32 = 0.5;
const WIDEN_TO: f32 = 0.8;
const WIDEN_MAX_BAD: f32 = 1.5;

/// The article text of a walked page: the element whose blocks weigh most
/// (see [`weight`]), then its blocks minus the furniture inside it.
///
/// Text the page hides is left out, unless taking it in gives a far more
/// complete article that still holds what was visible: pages rendered on
/// the server for a script to reveal (a hidden root, accordions closed)
/// hide the article itself, while hidden menus and dialogs do not make the
/// visible article grow.
///
/// Story cards are marked first (see [`card_summaries`]).
pub fn main_text(page: &mut Page) -> String {
    for k in card_summaries(page) {
        page.blocks[k].card = true;
    }
    let page = &*page;
    let visible = hinted_or_plain(page, false);
    // Hidden text too short to double the article is not worth a second
    // choice (hidden icons, labels and menus are on most pages).
    let hidden_chars: usize = page
        .blocks
        .iter()
        .filter(|b| b.hidden)
        .map(|b| b.chars as usize)
        .sum();
    if hidden_chars == 0 || hidden_chars < visible.len() / 2 {
        return visible;
    }
    let all = hinted_or_plain(page, true);
    if more_complete(&all, &visible) {
        all
    } else {
        visible
    }
}

/// How many times the visible text's words the text with hidden blocks must
/// hold to be taken instead.
const HIDDEN_GAIN: usize = 2;

/// Under this many words the visible text is no article to hold on to (a
/// shell of menus around a hidden root).
const NO_ARTICLE_WORDS: usize = 50;

/// Whether `all` is much longer than `visible` and the same article (it
/// holds the visible text's first paragraph), unless what was visible is
/// no article at all.
fn more_complete(all: &str, visible: &str) -> bool {
    let words = |t: &str| t.split_whitespace().count();
    let first = visible.split("\n\n").next().unwrap_or_default();
    words(all) >= HIDDEN_GAIN * words(visible).max(1)
        && (words(visible) < NO_ARTICLE_WORDS || all.contains(first))
}

/// When no element weighs anything, the hints are what hid the article
/// (a blog post inside a `<header>`, a site that names its content
/// `post-meta`): the choice is made again on the text alone, before the page
/// is said to have none.
fn hinted_or_plain(page: &Page, with_hidden: bool) -> String {
    let text = chosen_text(page, &valid_hints(page, with_hidden), with_hidden);
    if !text.is_empty() {
        return text;
    }
    chosen_text(page, &vec![false; page.elements.len()], with_hidden)
}

/// The article text with `boiler` telling which hinted elements are
/// furniture, and hidden blocks left out unless `with_hidden`.
fn chosen_text(page: &Page, boiler: &[bool], with_hidden: bool) -> String {
    let furniture = nearest_valid(page, boiler);
    // The furniture a block sits in: its nearest hinted ancestor whose hint
    // holds (a widget overruled inside a sidebar is still in the sidebar).
    let furniture_of = |b: &Block| {
        let f = if b.boiler == NONE {
            NONE
        } else {
            furniture[b.boiler as usize]
        };
        let quoted = f != NONE && b.in_quote && page.elements[f as usize].hint == Hint::Embed;
        if quoted { NONE } else { f }
    };
    let is_boiler = |b: &Block| furniture_of(b) != NONE;
    let mut score = vec![0f32; page.elements.len()];
    let mut good = vec![0f32; page.elements.len()];
    let mut bad = vec![0f32; page.elements.len()];
    for b in page.blocks.iter().filter(|b| with_hidden || !b.hidden) {
        let el = b.el as usize;
        if is_boiler(b) {
            score[el] -= b.chars as f32;
        } else {
            let w = weight(b);
            score[el] += w;
            if w > 0.0 {
                good[el] += w;
            } else {
                bad[el] -= w;
            }
        }
    }
    sum_up(page, &mut score);
    sum_up(page, &mut good);
    sum_up(page, &mut bad);
    for (s, e) in score.iter_mut().zip(&page.elements) {
        if e.article_body && *s > 0.0 {
            *s *= ARTICLE_BODY_BONUS;
        }
    }
    let Some(root) = argmax(&score) else {
        return String::new();
    };
    let wide = widened(page, &good, &bad, root);
    // Parts are disjoint subtrees in document order, as are blocks: one
    // merge pass picks the blocks inside them.
    let parts = match wide {
        Some(a) => vec![(a as u32, page.elements[a].last)],
        None => article_parts(page, &score, boiler, root),
    };
    let mut parts_left = parts.as_slice();
    let mut picked: Vec<&Block> = Vec::new();
    for b in page.blocks.iter().filter(|b| with_hidden || !b.hidden) {
        while let Some(&(_, last)) = parts_left.first()
            && b.el > last
        {
            parts_left = &parts_left[1..];
        }
        let Some(&(start, last)) = parts_left.first() else {
            break;
        };
        let inside = |el: u32| el > start && el <= last;
        let f = furniture_of(b);
        if b.el >= start && !(f != NONE && inside(f)) {
            picked.push(b);
        }
    }
    // Widening was needed because the furniture between the article's parts
    // outweighed them: the densest run would cut them apart again.
    let run = if wide.is_some() {
        trimmed_run(&picked)
    } else {
        densest_run(&picked)
    };
    let kept = article_blocks(page, run);
    let lines: Vec<&str> = kept
        .iter()
        .flat_map(|b| page.block_text(b).split('\n'))
        .filter(|l| !is_credit_line(l))
        .collect();
    without_repeated_runs(&lines).join("\n\n")
}

/// The blocks of the chosen run that are the article's: those [`keep`]
/// allows, whole lists (see [`shared_fates`]) and announced ones, up to a
/// section of other pages, without closing calls to action.
fn article_blocks<'a>(page: &Page, run: Vec<&'a Block>) -> Vec<&'a Block> {
    let mut keeps: Vec<bool> = run.iter().map(|b| keep(b)).collect();
    shared_fates(page, &run, &mut keeps);
    let mut kept: Vec<&'a Block> = Vec::with_capacity(run.len());
    let mut announced = false;
    for (b, keep) in run.into_iter().zip(keeps) {
        if keep {
            kept.push(b);
            announced = announces_list(page.block_text(b));
        } else if announced && b.tag != BlockTag::H1 && !b.card && b.chars <= MAX_LISTED_CHARS {
            kept.push(b);
        } else {
            announced = false;
        }
    }
    if let Some(end) = (kept.len() / 2..kept.len())
        .find(|&i| kept[i].chars <= MAX_SIGN_CHARS && opens_others(page.block_text(kept[i])))
    {
        kept.truncate(end);
    }
    let mut trimmed = 0;
    while trimmed < MAX_TRAILING_TRIM
        && kept.len() > 1
        && kept
            .last()
            .is_some_and(|b| is_call_to_action(page.block_text(b)))
    {
        kept.pop();
        trimmed += 1;
    }
    kept
}

/// Paragraphs this long, repeated in the same order, are a second copy of
/// the article (pages that carry one for another layout).
const REPEAT_CHARS: usize = 100;
/// How many such paragraphs in a row make a copy; the run compared at once
/// is bounded, so that a page of one paragraph repeated stays linear.
const REPEAT_RUN: usize = 3;
const MAX_RUN: usize = 64;

/// `lines` without the runs that repeat an earlier run of at least
/// [`REPEAT_RUN`] long paragraphs. Short lines repeat in any article
/// (labels, list items), and so may a single quoted paragraph.
fn without_repeated_runs<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, l) in lines.iter().enumerate() {
        if l.len() >= REPEAT_CHARS {
            first.entry(l).or_insert(i);
        }
    }
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        if let Some(&j) = first.get(lines[i])
            && j < i
        {
            let same = (0..MAX_RUN.min(i - j))
                .take_while(|&k| lines.get(i + k) == Some(&lines[j + k]))
                .count();
            let long = lines[i..i + same]
                .iter()
                .filter(|l| l.len() >= REPEAT_CHARS)
                .count();
            if long >= REPEAT_RUN {
                i += same;
                continue;
            }
        }
        out.push(lines[i]);
        i += 1;
    }
    out
}

/// Lists this long or longer are judged as a whole (see [`shared_fates`]).
const MIN_SHARED_ITEMS: usize = 3;

/// The items of one list share one fate: when most of them are kept, the
/// rest are too. A directory or a list of sources gives some entries a long
/// description and others only a linked name, which alone reads as a
/// teaser; a menu's items are all links and stay out together.
fn shared_fates(page: &Page, run: &[&Block], keeps: &mut [bool]) {
    let list_of = |b: &Block| match b.tag {
        BlockTag::Li => page.elements[b.el as usize].parent,
        _ => NONE,
    };
    let mut i = 0;
    while i < run.len() {
        let list = list_of(run[i]);
        let end = (i..run.len())
            .find(|&j| list_of(run[j]) != list)
            .unwrap_or(run.len());
        let items = end - i;
        let kept = keeps[i..end].iter().filter(|&&k| k).count();
        if list != NONE && items >= MIN_SHARED_ITEMS && kept * 2 > items {
            for (k, b) in keeps[i..end].iter_mut().zip(&run[i..end]) {
                *k = !b.card;
            }
        }
        i = end;
    }
}

/// A linked entry of an announced list longer than this is a teaser, not
/// an item.
const MAX_LISTED_CHARS: u32 = 200;

/// A paragraph of the article that ends with a colon ("Many patches were
/// sent for review:") announces what follows: the list of links after it
/// is the article's own, however link-dense. Short labels ("Related:",
/// "Read more:") are furniture's way to announce.
fn announces_list(text: &str) -> bool {
    let text = text.trim_end();
    text.ends_with(':') && text.chars().count() >= 25 && !is_call_to_action(text)
}

/// Section signs are short labels.
const MAX_SIGN_CHARS: u32 = 40;

/// Signs, lowercase, of a section of other pages: whole labels ("Related
/// posts", "Read more:") and the openings of labels that go on with the
/// site's name or a subject ("More from SewCanShe", "Trending stories in
/// world travel").
const OTHERS_SIGNS: &[&str] = &[
    "related",
    "related posts",
    "related articles",
    "related stories",
    "related reading",
    "related content",
    "popular posts",
    "popular stories",
    "most popular",
    "most read",
    "trending",
    "trending now",
    "you may also like",
    "you might also like",
    "recommended",
    "recommended reading",
    "recommended for you",
    "read next",
    "read more",
    "more stories",
    "recent posts",
    "latest posts",
    "latest news",
];
const OTHERS_OPENINGS: &[&str] = &["more from ", "trending stories", "trending in "];

/// Whether a short line in the second half of the article opens a section
/// of other pages: what follows is the site's, not the article's (its
/// links are often plain text on a card, which no link density catches).
fn opens_others(text: &str) -> bool {
    let sign = text.trim().trim_end_matches(':').trim_end().to_lowercase();
    OTHERS_SIGNS.contains(&sign.as_str()) || OTHERS_OPENINGS.iter().any(|o| sign.starts_with(o))
}

/// Credit lines are short: a byline, a date, a reading time.
const MAX_CREDIT_CHARS: usize = 80;

/// A line that credits the article rather than telling it: "By Jane Roe",
/// "Written by Jane Roe", "Updated March 9, 2026", "5 min read" (alone or
/// glued together, "Bridgestone Team | 5 min read"). The record carries
/// author and date in fields of their own.
fn is_credit_line(line: &str) -> bool {
    let line = line.trim();
    if line.len() > MAX_CREDIT_CHARS {
        return false;
    }
    let lower = line.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let reading_time = words.windows(3).any(|w| {
        w[0].bytes().all(|b| b.is_ascii_digit())
            && matches!(w[1], "min" | "min." | "mins" | "minute" | "minutes")
            && w[2].starts_with("read")
    });
    let has_year = line
        .split(|c: char| !c.is_ascii_digit())
        .any(|d| d.len() == 4 && (d.starts_with("19") || d.starts_with("20")));
    let dated = ["published", "updated", "last updated", "posted"]
        .iter()
        .any(|p| lower.starts_with(p))
        && has_year;
    let written_by = lower.starts_with("written by");
    // "By" and a name of capitalised words, and nothing else.
    let by_name = lower.starts_with("by ")
        && (2..=5).contains(&line.split_whitespace().count())
        && line
            .split_whitespace()
            .skip(1)
            .all(|w| w.chars().next().is_some_and(char::is_uppercase));
    reading_time || dated || written_by || by_name
}

/// How many closing paragraphs may be dropped as calls to action.
const MAX_TRAILING_TRIM: usize = 4;

/// Phrases of the notes publishers append to articles inside the article
/// container: subscribe, follow, share. Lowercase; a few languages. (Credits
/// and copyright lines are left alone: whether they belong to the article is
/// a matter of house style.)
const CALL_TO_ACTION: &[&str] = &[
    "subscribe",
    "newsletter",
    "sign up",
    "follow us",
    "follow her",
    "follow him",
    "follow the",
    "on twitter",
    "on facebook",
    "share it",
    "share this",
    "click here",
    "read more",
    "have a tip",
    "assine",
    "inscreva",
    "leia mais",
    "подпис",
    "читайте также",
    "suscríbete",
    "abonnieren",
    "berlangganan",
    "baca juga",
];

/// A short closing note rather than the article's last paragraph.
fn is_call_to_action(text: &str) -> bool {
    if text.len() > 400 {
        return false;
    }
    let lower = text.to_lowercase();
    CALL_TO_ACTION.iter().any(|p| lower.contains(p))
}

/// The run of consecutive blocks with the largest total weight: teasers and
/// link lists inside the chosen element, before or after the article, are
/// cut off when the furniture between them and the article outweighs them.
fn densest_run<'a>(blocks: &[&'a Block]) -> Vec<&'a Block> {
    let (mut best, mut best_range) = (0f32, (0, 0));
    let (mut sum, mut start) = (0f32, 0);
    for (i, b) in blocks.iter().enumerate() {
        if sum <= 0.0 {
            (sum, start) = (0.0, i);
        }
        sum += weight(b);
        if sum > best {
            (best, best_range) = (sum, (start, i + 1));
        }
    }
    // Headings weigh nothing, so a run never starts with one; the heading
    // right before the first paragraph is that paragraph's.
    let mut first = best_range.0;
    while first > 0 && blocks[first - 1].tag == BlockTag::Heading {
        first -= 1;
    }
    blocks[first..best_range.1].to_vec()
}

/// From the first to the last block that argues for the article.
fn trimmed_run<'a>(blocks: &[&'a Block]) -> Vec<&'a Block> {
    let first = blocks.iter().position(|b| weight(b) > 0.0);
    let last = blocks.iter().rposition(|b| weight(b) > 0.0);
    match (first, last) {
        (Some(f), Some(l)) => blocks[f..=l].to_vec(),
        _ => Vec::new(),
    }
}

/// The ancestor to take instead of `root` when `root` holds under
/// [`WIDEN_BELOW`] of the page's running text (`good`: the positive weight
/// of blocks outside furniture) and an ancestor holds at least
/// [`WIDEN_TO`] of it, with no more than [`WIDEN_MAX_BAD`] times as much
/// weighing against (`bad`): a guide or report whose sections are each
/// split by link lists, tables of specs or short labels, where each section
/// loses to the furniture inside it and only one would be kept. `<html>` and
/// `<body>` are never taken: a page's article does not fill it.
fn widened(page: &Page, good: &[f32], bad: &[f32], root: usize) -> Option<usize> {
    let total: f32 = page
        .elements
        .iter()
        .zip(good)
        .filter(|(e, _)| e.parent == NONE)
        .map(|(_, g)| g)
        .sum();
    if good[root] >= WIDEN_BELOW * total {
        return None;
    }
    let mut a = page.elements[root].parent;
    while a != NONE {
        let i = a as usize;
        let up = page.elements[i].parent;
        if up == NONE || page.elements[up as usize].parent == NONE {
            return None;
        }
        if good[i] >= WIDEN_TO * total {
            return (bad[i] <= WIDEN_MAX_BAD * good[i]).then_some(i);
        }
        a = page.elements[i].parent;
    }
    None
}

/// The best element and those of its siblings that also score well: a lead
/// paragraph or the second half of an article after an ad break often sits
/// beside the main container. Each part is a range of element indices.
fn article_parts(page: &Page, score: &[f32], boiler: &[bool], root: usize) -> Vec<(u32, u32)> {
    let parent = page.elements[root].parent;
    let min = SIBLING_SHARE * score[root];
    page.elements
        .iter()
        .enumerate()
        .filter(|&(i, e)| {
            i == root || (parent != NONE && e.parent == parent && score[i] >= min && !boiler[i])
        })
        .map(|(i, e)| (i as u32, e.last))
        .collect()
}

/// Appends a block's text as paragraphs: line breaks inside a block split
/// paragraphs too.
fn push_paragraphs(out: &mut String, text: &str) {
    for line in text.split('\n') {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(line);
    }
}

/// Which hinted elements really are boilerplate, by [`OVERRULED_HINT_SHARE`].
fn valid_hints(page: &Page, with_hidden: bool) -> Vec<bool> {
    let mut good = vec![0f32; page.elements.len()];
    let mut paragraphs = vec![0f32; page.elements.len()];
    for b in page.blocks.iter().filter(|b| with_hidden || !b.hidden) {
        let w = weight(b);
        if w > 0.0 {
            good[b.el as usize] += w;
            paragraphs[b.el as usize] += 1.0;
        }
    }
    sum_up(page, &mut good);
    sum_up(page, &mut paragraphs);
    let total: f32 = page
        .elements
        .iter()
        .zip(&good)
        .filter(|(e, _)| e.parent == NONE)
        .map(|(_, g)| g)
        .sum();
    // Page builders give every section of an article the same component
    // class (`elementor-widget-container`, `WidgetWrapper`), and so do
    // editors their embedded blocks (`ck-block--embed`, one per entry of a
    // listing): each holds a little of the text, together they hold the
    // article. What the elements of a class hold (those not inside another
    // of the same class) is judged by the same rule. (Not for content words:
    // comments share a class too, and can outweigh the article.)
    let mut by_key = vec![(0f32, 0f32); page.hint_keys as usize];
    let mut outer_key = vec![NONE; page.elements.len()];
    for (i, e) in page.elements.iter().enumerate() {
        let above = if e.parent == NONE {
            NONE
        } else {
            outer_key[e.parent as usize]
        };
        if let Some((g, n)) = by_key.get_mut(e.hint_key as usize)
            && above != e.hint_key
        {
            (*g, *n) = (*g + good[i], *n + paragraphs[i]);
        }
        outer_key[i] = if above == NONE { e.hint_key } else { above };
    }
    let overruled = |g: f32, n: f32| g >= OVERRULED_HINT_SHARE * total && n >= 2.0;
    page.elements
        .iter()
        .zip(good.iter().zip(&paragraphs))
        .map(|(e, (&g, &n))| match e.hint {
            Hint::None => false,
            Hint::Structure => true,
            Hint::Name => !overruled(g, n),
            Hint::Layout | Hint::Embed => {
                let shared = by_key
                    .get(e.hint_key as usize)
                    .is_some_and(|&(g, n)| g >= SHARED_HINT_SHARE * total && n >= 2.0);
                !overruled(g, n) && !shared
            }
        })
        .collect()
}

/// For each element, itself when its hint holds, else the nearest ancestor
/// whose hint holds, or `NONE`.
fn nearest_valid(page: &Page, valid: &[bool]) -> Vec<u32> {
    let mut out = vec![NONE; page.elements.len()];
    for (i, e) in page.elements.iter().enumerate() {
        out[i] = if valid[i] {
            i as u32
        } else if e.parent != NONE {
            out[e.parent as usize]
        } else {
            NONE
        };
    }
    out
}

/// Adds each element's value into its ancestors'. Elements are in document
/// order, so children come after their parent and one backward pass is enough.
fn sum_up(page: &Page, values: &mut [f32]) {
    for i in (0..page.elements.len()).rev() {
        let parent = page.elements[i].parent;
        if parent != NONE {
            values[parent as usize] += values[i];
        }
    }
}

fn argmax(score: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &s) in score.iter().enumerate() {
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((i, s));
        }
    }
    best.filter(|&(_, s)| s > 0.0).map(|(i, _)| i)
}

/// How much a block argues for its container being the article, leaving
/// class hints aside: long, link-poor paragraphs count for it, link lists and
/// short labels against.
fn weight(b: &Block) -> f32 {
    let chars = b.chars as f32;
    let link_density = b.link_chars as f32 / chars;
    if b.in_quote && link_density > 0.5 {
        return 0.0;
    }
    if link_density > 0.5 || is_teaser(b) {
        return -chars;
    }
    match b.tag {
        BlockTag::P | BlockTag::Pre | BlockTag::Quote if b.chars >= 25 => {
            chars * (1.0 - link_density)
        }
        BlockTag::H1 | BlockTag::Heading => 0.0,
        // Plain (link-free) list items and table cells are article data
        // more often than furniture, which is made of links.
        BlockTag::Li | BlockTag::Cell if link_density < 0.3 => 0.3 * chars,
        _ if b.chars >= 120 => chars * (1.0 - link_density) * 0.8,
        _ => -0.3 * chars,
    }
}

/// Every block of the page that reads as text, for fragments that are all
/// content (a feed item's HTML).
pub fn all_text(page: &Page) -> String {
    let mut out = String::new();
    for b in page.blocks.iter().filter(|b| !b.hidden) {
        push_paragraphs(&mut out, page.block_text(b));
    }
    out
}

fn keep(b: &Block) -> bool {
    if b.tag == BlockTag::H1 || b.tag == BlockTag::Caption || is_teaser(b) {
        return false;
    }
    b.in_quote || b.link_chars * 2 <= b.chars
}

/// A linked headline followed by its summary, as in lists of other stories.
fn is_teaser(b: &Block) -> bool {
    b.card || (b.lead_link_chars >= 20 && b.lead_link_chars * 5 >= b.chars)
}

/// Cards side by side, at least: a next and a previous story.
const MIN_CARDS: usize = 2;

/// The summaries of story cards (as block indices): lists of other stories
/// whose summaries are full paragraphs, in blocks of their own after a
/// linked headline or a row of links, which otherwise read as the article.
/// A card is an element holding one paragraph of running text with a mostly
/// linked block before it; its summary is a teaser when at least
/// [`MIN_CARDS`] siblings are cards and their parent holds no other running
/// text. Sections of an article hold more than one paragraph, or no links
/// before their text, or sit beside the article's other paragraphs.
/// (A roundup of other sites' pages, one linked paragraph each, is made the
/// same way and is lost with the teasers.)
fn card_summaries(page: &Page) -> Vec<usize> {
    let n = page.elements.len();
    // Each element's blocks are a range of the block table (document order).
    let mut lo = vec![u32::MAX; n];
    let mut hi = vec![0u32; n];
    for (k, b) in page.blocks.iter().enumerate() {
        let el = b.el as usize;
        lo[el] = lo[el].min(k as u32);
        hi[el] = hi[el].max(k as u32 + 1);
    }
    for i in (0..n).rev() {
        let p = page.elements[i].parent;
        if p != NONE {
            let p = p as usize;
            lo[p] = lo[p].min(lo[i]);
            hi[p] = hi[p].max(hi[i]);
        }
    }
    let prose = |b: &Block| !b.hidden && weight(b) > 0.0;
    let linked = |b: &Block| !b.hidden && b.link_chars * 2 > b.chars;
    // Prefix counts of prose blocks, and the nearest linked block before each.
    let mut prose_before = Vec::with_capacity(page.blocks.len() + 1);
    let mut last_link = Vec::with_capacity(page.blocks.len());
    let (mut count, mut link) = (0u32, None);
    prose_before.push(0);
    for (k, b) in page.blocks.iter().enumerate() {
        last_link.push(link);
        if linked(b) {
            link = Some(k);
        }
        count += u32::from(prose(b));
        prose_before.push(count);
    }
    let prose_in = |i: usize| {
        let (l, h) = (lo[i] as usize, hi[i] as usize);
        if l >= h {
            0
        } else {
            prose_before[h] - prose_before[l]
        }
    };
    let summary = |i: usize| -> Option<usize> {
        if prose_in(i) != 1 {
            return None;
        }
        let (l, h) = (lo[i] as usize, hi[i] as usize);
        let k = (l..h).find(|&k| prose(&page.blocks[k]))?;
        last_link[k].is_some_and(|j| j >= l).then_some(k)
    };
    let mut cards_of = vec![0u32; n];
    for (i, e) in page.elements.iter().enumerate() {
        if e.parent != NONE && summary(i).is_some() {
            cards_of[e.parent as usize] += 1;
        }
    }
    let teasers = |p: usize| cards_of[p] as usize >= MIN_CARDS && prose_in(p) == cards_of[p];
    (0..n)
        .filter(|&i| {
            let p = page.elements[i].parent;
            p != NONE && teasers(p as usize)
        })
        .filter_map(summary)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_copy_of_the_article_is_dropped_but_short_repeats_stay() {
        let long: Vec<String> = (0..4)
            .map(|i| format!("Paragraph {i} {}", "of running text ".repeat(8)))
            .collect();
        let mut lines: Vec<&str> = vec!["Intro", "Label"];
        lines.extend(long.iter().map(String::as_str));
        lines.extend(["Label", "Outro"]);
        lines.extend(long.iter().map(String::as_str));
        lines.push(&long[0]);
        let mut want: Vec<&str> = vec!["Intro", "Label"];
        want.extend(long.iter().map(String::as_str));
        want.extend(["Label", "Outro", &long[0]]);
        assert_eq!(without_repeated_runs(&lines), want);
    }
}
