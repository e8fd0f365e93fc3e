//! Stories: the labelled set of tests/fixtures/stories/ (its README says
//! how it was made) through the story core, and `story_id` through the
//! pipeline and a restart.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tidings::record::{Article, Extracted, FeedHints, Origin, OriginKind, Record};
use tidings::story::{Params, Stories};
use tidings::tag::{Tagger, Taxonomy};

use crate::support::{config, records, stderr, tidings};

fn fixtures() -> PathBuf {
    crate::support::fixture("stories")
}

#[derive(Deserialize)]
struct Label {
    story: String,
    published: DateTime<Utc>,
}

/// The record the pipeline would write of a labelled article (headline on
/// the first line), published when the label says.
fn record(tagger: &Tagger, name: &str, published: DateTime<Utc>) -> Record {
    let path = fixtures().join("articles").join(format!("{name}.txt"));
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (title, text) = doc.split_once('\n').unwrap_or((&doc, ""));
    let article = Article::new(
        Origin {
            kind: OriginKind::File,
            location: path.display().to_string(),
            name: None,
            tags: Vec::new(),
        },
        None,
        None,
        published,
        FeedHints {
            published_at: Some(published),
            ..FeedHints::default()
        },
        Extracted {
            title: Some(title.trim().to_string()),
            text: text.trim().to_string(),
            ..Extracted::default()
        },
    );
    let tags = tagger.tag(&article.title, &article.text);
    Record::new(article, None, tags)
}

/// Pairwise precision, recall and F1: of the pairs of articles placed in
/// one story, how many the labels put in one story, and the reverse.
fn pairwise(labels: &[&str], placed: &[&str]) -> (f64, f64, f64, Vec<(usize, usize)>) {
    let (mut tp, mut fp, mut fn_) = (0u32, 0u32, 0u32);
    let mut wrong = Vec::new();
    for i in 0..labels.len() {
        for j in i + 1..labels.len() {
            match (labels[i] == labels[j], placed[i] == placed[j]) {
                (true, true) => tp += 1,
                (false, true) => {
                    fp += 1;
                    wrong.push((i, j));
                }
                (true, false) => {
                    fn_ += 1;
                    wrong.push((i, j));
                }
                (false, false) => {}
            }
        }
    }
    let p = f64::from(tp) / f64::from((tp + fp).max(1));
    let r = f64::from(tp) / f64::from((tp + fn_).max(1));
    let f = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    eprintln!("stories: pairs tp {tp} fp {fp} fn {fn_}");
    (p, r, f, wrong)
}

/// The labelled set in order of publication through the story core, as the
/// sink stage would place it. Run with `-- --nocapture` for the figures.
#[test]
fn labelled_stories_meet_the_pairwise_target() {
    let text = std::fs::read_to_string(fixtures().join("labels.toml")).unwrap();
    let labels: BTreeMap<String, Label> = toml::from_str(&text).unwrap();
    let tagger = Tagger::new(&Taxonomy::embedded()).unwrap();
    let mut order: Vec<(&String, &Label)> = labels.iter().collect();
    order.sort_by_key(|(name, l)| (l.published, name.to_string()));
    let mut stories = Stories::new(Params::default());
    let mut placed = Vec::new();
    for (name, label) in &order {
        let record = record(&tagger, name, label.published);
        placed.push(stories.place(&record, &HashMap::new()).story);
    }
    let events: Vec<&str> = order.iter().map(|(_, l)| l.story.as_str()).collect();
    let placed: Vec<&str> = placed.iter().map(String::as_str).collect();
    let (p, r, f, wrong) = pairwise(&events, &placed);
    for (i, j) in wrong {
        eprintln!(
            "  {} ({}) and {} ({}): {}",
            order[i].0,
            events[i],
            order[j].0,
            events[j],
            if events[i] == events[j] {
                "apart"
            } else {
                "joined"
            }
        );
    }
    let multi = {
        let mut n: BTreeMap<&str, usize> = BTreeMap::new();
        events.iter().for_each(|e| *n.entry(e).or_default() += 1);
        n.values().filter(|&&n| n > 1).count()
    };
    eprintln!(
        "stories ({} articles, {multi} events reported more than once): pairwise precision \
         {p:.3} recall {r:.3} F1 {f:.3}",
        events.len()
    );
    assert!(events.len() >= 60 && multi >= 15, "the set is too small");
    // Issue 15's target is F1 0.9; the controls (events that share actors
    // or a day, not the event) are what precision measures.
    assert!(f >= 0.9, "pairwise F1 {f:.3} < 0.9");
    assert!(p >= 0.95, "pairwise precision {p:.3} < 0.95");
}

/// Two runs, the second after a restart: a third outlet's report of the
/// first run's event joins its story, named by its first record; another
/// call between the same two presidents, and Putin on the economy the same
/// day, each start their own.
#[test]
fn story_ids_hold_across_outlets_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let article = |name: &str| {
        fixtures()
            .join("articles")
            .join(format!("{name}.txt"))
            .display()
            .to_string()
    };
    let runs = [
        vec![article("a01")],
        vec![article("a02")],
        vec![article("a04"), article("a05"), article("c01")],
    ];
    for inputs in &runs {
        let mut args = vec!["backfill", "--config", cfg.to_str().unwrap()];
        args.extend(inputs.iter().map(String::as_str));
        let out = tidings(dir.path(), &args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let written = records(&dir.path().join("out.jsonl"));
    let story = |headline: &str| {
        let r = written
            .iter()
            .find(|r| r["title"].as_str().unwrap().starts_with(headline))
            .unwrap_or_else(|| panic!("no record {headline}"));
        r["story_id"].as_str().unwrap().to_string()
    };
    let first = written[0]["id"].as_str().unwrap();
    assert_eq!(story("Trump and Putin agree 30-day pause"), first);
    assert_eq!(story("What the 90-minute"), first);
    assert_eq!(story("Power-plant truce"), first);
    let budapest = story("Trump says he will meet Putin in Budapest");
    let valdai = story("Путин на Валдае");
    assert_ne!(budapest, first);
    assert_ne!(valdai, first);
    assert_ne!(valdai, budapest);
}
