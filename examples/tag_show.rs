//! Shows what the tagger makes of articles: relevance, actors, and each
//! topic with its score and evidence sentences. For reading misses of the
//! dev split of the labelled set (tests/fixtures/tag/README.md):
//!
//! `cargo run --example tag_show -- tests/fixtures/tag/articles/r08_pow_children.txt`
//!
//! Headline = first line of each file, body = the rest.

use anyhow::Context;
use tidings::tag::{Tagger, Taxonomy};

fn main() -> anyhow::Result<()> {
    let tagger = Tagger::new(&Taxonomy::embedded()).context("embedded taxonomy")?;
    for path in std::env::args().skip(1) {
        let doc = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let (title, body) = doc.split_once('\n').unwrap_or((&doc, ""));
        let tags = tagger.tag(title, body);
        println!("{path}: relevant {} ({})", tags.relevant, tags.relevance);
        let actors: Vec<&str> = tags.actors.iter().map(|a| a.id.as_str()).collect();
        println!("  actors: {}", actors.join(" "));
        for t in &tags.topics {
            println!("  {} {}", t.id, t.score);
            for e in &t.evidence {
                println!("    | {e}");
            }
        }
    }
    Ok(())
}
