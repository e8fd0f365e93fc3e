//! Throughput of `Tagger::tag` on one core, in bytes of article text per
//! second, next to a baseline measured in the same run: one plain
//! Aho-Corasick `find_iter` over the same bytes with every taxonomy pattern
//! (no folding, no sentences, no scoring). The tagger is compiled once.

use std::hint::black_box;
use std::path::Path;

use aho_corasick::AhoCorasick;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidings::tag::{Tagger, Taxonomy};

/// The labelled articles and the seed corpus (`seeds/` in the main repo),
/// relative to the crate root.
const CORPUS_DIRS: [&str; 2] = ["tests/fixtures/tag/articles", "seeds"];

/// The corpus as (headline, body) pairs: headline = first line.
fn corpus() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = Vec::new();
    for dir in CORPUS_DIRS {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("fixture dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let doc = std::fs::read_to_string(&path).expect("fixture");
            let (title, body) = doc.split_once('\n').unwrap_or((&doc, ""));
            docs.push((title.to_string(), body.to_string()));
        }
    }
    docs
}

fn bench(c: &mut Criterion) {
    let taxonomy = Taxonomy::embedded();
    let tagger = Tagger::new(&taxonomy).expect("embedded taxonomy");
    let docs = corpus();
    let bytes: usize = docs.iter().map(|(t, b)| t.len() + b.len()).sum();

    let mut patterns: Vec<String> = Vec::new();
    for a in &taxonomy.actors {
        for list in [
            &a.aliases,
            &a.cased,
            &a.surnames,
            &a.seats,
            &a.exclude,
            &a.veto,
        ] {
            patterns.extend(list.iter().map(|p| p.to_lowercase()));
        }
    }
    for t in &taxonomy.topics {
        patterns.extend(t.cues.keys().map(|p| p.to_lowercase()));
    }
    let plain = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(&patterns)
        .expect("baseline automaton");

    let mut group = c.benchmark_group("tag");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("baseline_aho_corasick_find_iter", |b| {
        b.iter(|| {
            let mut n = 0;
            for (title, body) in &docs {
                n += plain.find_iter(title.as_str()).count();
                n += plain.find_iter(body.as_str()).count();
            }
            black_box(n)
        })
    });
    group.bench_function("tagger_tag", |b| {
        b.iter(|| {
            for (title, body) in &docs {
                black_box(tagger.tag(title, body));
            }
        })
    });
    group.finish();

    // Hostile text: sentences that hold every topic cue of the taxonomy,
    // so that every cue's clause is read, again and again.
    let cues: Vec<&str> = taxonomy
        .topics
        .iter()
        .flat_map(|t| t.cues.keys())
        .map(|c| c.trim_end_matches('*'))
        .collect();
    let sentence = format!("{}. ", cues.join(" and "));
    let storm = sentence.repeat((1 << 20) / sentence.len() + 1);
    let mut group = c.benchmark_group("tag_cue_storm");
    group.throughput(Throughput::Bytes(storm.len() as u64));
    group.sample_size(10);
    group.bench_function("baseline_aho_corasick_find_iter", |b| {
        b.iter(|| black_box(plain.find_iter(storm.as_str()).count()))
    });
    group.bench_function("tagger_tag", |b| {
        b.iter(|| black_box(tagger.tag("", &storm)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
