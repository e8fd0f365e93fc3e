use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use tidings::dedup::{Fingerprint, Index, Keys, Params};
use tidings::record::DupMethod;
use tidings::url::canonicalize;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    let path = root().join("tests/fixtures/dedup").join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The seed corpus as (id, text), id = file stem.
fn seeds() -> Vec<(String, String)> {
    let mut paths: Vec<PathBuf> = fs::read_dir(root().join("seeds"))
        .expect("seeds/ folder")
        .map(|e| e.expect("seed entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let id = p.file_stem().expect("stem").to_string_lossy().into_owned();
            (id, fs::read_to_string(p).expect("seed text"))
        })
        .collect()
}

fn seeded_index() -> Index {
    let mut index = Index::new(Params::default());
    for (id, text) in seeds() {
        index.add_seed(&id, &text);
    }
    index
}

struct Label {
    file: String,
    expected: Option<String>,
    kind: String,
}

fn labels() -> Vec<Label> {
    fixture("labels.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "bad label line {l:?}");
            Label {
                file: cols[0].to_string(),
                expected: (cols[1] != "-").then(|| cols[1].to_string()),
                kind: cols[2].to_string(),
            }
        })
        .collect()
}

fn t(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 5, 12, 8, 0, 0).unwrap() + Duration::hours(hours)
}

#[test]
fn labelled_set_catches_every_copy_with_its_seed_and_no_other_article() {
    let index = seeded_index();
    let labels = labels();
    let kinds = ["syndicated", "edited", "teaser", "update"];
    for seed in seeds().iter().map(|(id, _)| id) {
        for kind in kinds {
            assert!(
                labels
                    .iter()
                    .any(|l| l.kind == kind && l.expected.as_ref() == Some(seed)),
                "labelled set lacks a {kind} copy of {seed}"
            );
        }
    }

    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    let mut lowest_copy = f64::INFINITY;
    let mut highest_other = 0.0f64;
    let mut failures = Vec::new();
    println!("{:<28} {:<11} {:>6}  verdict", "file", "kind", "sim");
    for label in &labels {
        let verdict = index.assess(&Keys::default(), &Fingerprint::of(&fixture(&label.file)));
        let got = verdict.duplicate.as_ref().map(|d| d.duplicate_of.clone());
        println!(
            "{:<28} {:<11} {:>6.3}  {}",
            label.file,
            label.kind,
            verdict.similarity,
            got.as_deref().unwrap_or("-")
        );
        match (&label.expected, &got) {
            (Some(e), Some(g)) if e == g => {
                tp += 1;
                lowest_copy = lowest_copy.min(verdict.similarity);
            }
            (Some(_), Some(_)) => {
                fp += 1;
                fn_ += 1;
                failures.push(format!("{}: wrong seed {got:?}", label.file));
            }
            (Some(_), None) => {
                fn_ += 1;
                lowest_copy = lowest_copy.min(verdict.similarity);
                failures.push(format!("{}: missed", label.file));
            }
            (None, Some(_)) => {
                fp += 1;
                failures.push(format!("{}: false match {got:?}", label.file));
            }
            (None, None) => highest_other = highest_other.max(verdict.similarity),
        }
    }
    let precision = f64::from(tp) / f64::from((tp + fp).max(1));
    let recall = f64::from(tp) / f64::from((tp + fn_).max(1));
    println!(
        "precision {precision:.3} recall {recall:.3}; lowest copy {lowest_copy:.3}, \
         highest non-copy {highest_other:.3}, margin {:.3}",
        lowest_copy - highest_other
    );
    assert!(failures.is_empty(), "{failures:#?}");
    // Not just separated: both sides stay clear of the threshold, so that
    // copies edited a little more, or reports quoting a little more, are
    // still decided right.
    let threshold = Params::default().containment;
    assert!(
        lowest_copy >= threshold + 0.1,
        "lowest copy {lowest_copy:.3}"
    );
    assert!(
        highest_other <= threshold - 0.1,
        "highest non-copy {highest_other:.3}"
    );
}

#[test]
fn no_seed_is_a_duplicate_of_another_seed() {
    let seeds = seeds();
    for (i, (id, text)) in seeds.iter().enumerate() {
        let mut index = Index::new(Params::default());
        for (j, (other, other_text)) in seeds.iter().enumerate() {
            if i != j {
                index.add_seed(other, other_text);
            }
        }
        let verdict = index.assess(&Keys::default(), &Fingerprint::of(text));
        println!(
            "{id}: best similarity to other seeds {:.3}",
            verdict.similarity
        );
        assert_eq!(verdict.duplicate, None, "seed {id}");
    }
}

#[test]
fn copies_of_an_ingested_record_name_that_record() {
    // The stream path: no seeds, the originals arrive as records first, so
    // matching goes through the sampled keys rather than whole seeds.
    let mut index = Index::new(Params::default());
    for (i, (id, text)) in seeds().iter().enumerate() {
        let rec = format!("rec-{}", &id[..3]);
        let url = format!("https://example.org/{i}");
        let keys = Keys {
            canonical_url: Some(&url),
            guid: None,
        };
        index.insert(&rec, &keys, Fingerprint::of(text), t(0));
    }
    let mut failures = Vec::new();
    let mut lowest_copy = f64::INFINITY;
    let mut highest_other = 0.0f64;
    for label in labels() {
        let verdict = index.assess(&Keys::default(), &Fingerprint::of(&fixture(&label.file)));
        let want = label.expected.as_ref().map(|e| format!("rec-{}", &e[..3]));
        let got = verdict.duplicate.map(|d| d.duplicate_of);
        println!("{:<28} {:>6.3} {got:?}", label.file, verdict.similarity);
        match want {
            Some(_) => lowest_copy = lowest_copy.min(verdict.similarity),
            None => highest_other = highest_other.max(verdict.similarity),
        }
        if got != want {
            failures.push(format!("{}: want {want:?}, got {got:?}", label.file));
        }
    }
    println!(
        "stream: lowest copy {lowest_copy:.3}, highest non-copy {highest_other:.3}, margin {:.3}",
        lowest_copy - highest_other
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A <- B <- C: B copies most of A, C copies most of B but too little of A
/// to be a copy of it on its own. C is a copy of A's story all the same:
/// it names A, the root, and B, the copy it was found through.
#[test]
fn a_copy_of_a_copy_names_the_root_and_the_copy_it_came_through() {
    let a = prose(&[(0, 300)]);
    let b = prose(&[(0, 200), (1000, 1100)]);
    let c = prose(&[(100, 200), (1000, 1100), (2000, 2100)]);
    let mut index = Index::new(Params::default());
    index.insert("a", &Keys::default(), Fingerprint::of(&a), t(0));
    let b_dup = index
        .check(&Keys::default(), &Fingerprint::of(&b))
        .expect("B copies A");
    assert_eq!((b_dup.duplicate_of.as_str(), b_dup.via), ("a", None));
    index.insert("b", &Keys::default(), Fingerprint::of(&b), t(1));
    index.note_copy("b", &b_dup.duplicate_of);

    let mut alone = Index::new(Params::default());
    alone.insert("a", &Keys::default(), Fingerprint::of(&a), t(0));
    assert_eq!(
        alone.check(&Keys::default(), &Fingerprint::of(&c)),
        None,
        "C alone is no copy of A"
    );
    let c_dup = index
        .check(&Keys::default(), &Fingerprint::of(&c))
        .expect("C copies B");
    assert_eq!(
        (c_dup.duplicate_of.as_str(), c_dup.via.as_deref()),
        ("a", Some("b"))
    );
    index.insert("c", &Keys::default(), Fingerprint::of(&c), t(2));
    index.note_copy("c", &c_dup.duplicate_of);

    // D copies C: three hops from A, still A.
    let d = prose(&[(1000, 1100), (2000, 2100), (3000, 3100)]);
    let d_dup = index
        .check(&Keys::default(), &Fingerprint::of(&d))
        .expect("D copies C");
    assert_eq!(
        (d_dup.duplicate_of.as_str(), d_dup.via.as_deref()),
        ("a", Some("c"))
    );
}

#[test]
fn a_copy_names_the_seed_even_when_a_record_of_the_seed_came_first() {
    let (seed_id, seed_text) = seeds().swap_remove(0);
    let mut index = seeded_index();
    // The seed itself, ingested as a record, and an edited copy of it.
    index.insert(
        "record-of-seed",
        &Keys::default(),
        Fingerprint::of(&seed_text),
        t(0),
    );
    let edited = fixture(&format!("{}_edited.txt", &seed_id[..3]));
    index.insert(
        "record-edited",
        &Keys::default(),
        Fingerprint::of(&edited),
        t(1),
    );

    for file in ["syndicated", "edited", "teaser", "update"] {
        let text = fixture(&format!("{}_{file}.txt", &seed_id[..3]));
        let dup = index
            .check(&Keys::default(), &Fingerprint::of(&text))
            .expect("a copy");
        assert_eq!(dup.duplicate_of, seed_id, "{file}");
    }
    let same = index
        .check(&Keys::default(), &Fingerprint::of(&seed_text))
        .expect("the seed's own text");
    assert_eq!(
        (same.duplicate_of.as_str(), same.method),
        (seed_id.as_str(), DupMethod::Hash)
    );
}

#[test]
fn exact_duplicates_by_url_guid_and_text() {
    let mut index = Index::new(Params::default());
    let story = fixture("unrelated_grain.txt");
    let keys = Keys {
        canonical_url: Some("https://news.example.org/grain?id=7"),
        guid: Some("urn:example:grain-7"),
    };
    index.insert("first", &keys, Fingerprint::of(&story), t(0));
    let other_text = Fingerprint::of(&fixture("unrelated_tech.txt"));

    // Same page behind a tracking link, different text (a live page changed).
    let by_url = Keys {
        canonical_url: Some("HTTPS://News.Example.org:443/grain?utm_source=x&id=7#top"),
        guid: None,
    };
    let dup = index.check(&by_url, &other_text).expect("same url");
    assert_eq!(
        (dup.duplicate_of.as_str(), dup.method, dup.similarity),
        ("first", DupMethod::Url, 1.0)
    );

    let by_guid = Keys {
        canonical_url: Some("https://mirror.example.net/other"),
        guid: Some("urn:example:grain-7"),
    };
    let dup = index.check(&by_guid, &other_text).expect("same guid");
    assert_eq!(
        (dup.duplicate_of.as_str(), dup.method),
        ("first", DupMethod::Guid)
    );

    // Same words, other case, spacing, quotes and boilerplate lines.
    let retyped = format!(
        "Advertisement\n{}\nShare this article",
        story
            .to_uppercase()
            .replace(". ", " .  ")
            .replace('\'', "’")
    );
    let dup = index
        .check(&Keys::default(), &Fingerprint::of(&retyped))
        .expect("same text");
    assert_eq!(
        (dup.duplicate_of.as_str(), dup.method, dup.similarity),
        ("first", DupMethod::Hash, 1.0)
    );

    assert_eq!(index.check(&Keys::default(), &other_text), None);
    assert_eq!(index.best_similarity(&other_text), 0.0);
}

#[test]
fn eviction_forgets_old_records_but_never_seeds() {
    let mut index = seeded_index();
    let seeds = seeds();
    let texts = [
        "unrelated_grain.txt",
        "unrelated_tech.txt",
        "unrelated_energy.txt",
        "unrelated_football.txt",
        "unrelated_war.txt",
    ];
    // Many records so that compaction (not only the horizon) runs.
    for (i, file) in texts.iter().enumerate() {
        let url = format!("https://example.org/{file}");
        let keys = Keys {
            canonical_url: Some(&url),
            guid: None,
        };
        index.insert(file, &keys, Fingerprint::of(&fixture(file)), t(i as i64));
    }
    assert_eq!(index.len(), seeds.len() + texts.len());

    index.evict_before(t(3));
    assert_eq!(index.len(), seeds.len() + 2, "records at t0..t2 evicted");
    for (i, file) in texts.iter().enumerate() {
        let text = fixture(file);
        let teaser: String = text.lines().take(3).collect::<Vec<_>>().join("\n");
        let got = index
            .check(&Keys::default(), &Fingerprint::of(&teaser))
            .map(|d| d.duplicate_of);
        let url = format!("https://example.org/{file}");
        let by_url = index
            .check(
                &Keys {
                    canonical_url: Some(&url),
                    guid: None,
                },
                &Fingerprint::of(""),
            )
            .map(|d| d.duplicate_of);
        let want = (i >= 3).then(|| file.to_string());
        assert_eq!(got, want, "{file} by text");
        assert_eq!(by_url, want, "{file} by url");
    }
    for (id, text) in &seeds {
        let dup = index
            .check(&Keys::default(), &Fingerprint::of(text))
            .expect("seed stays");
        assert_eq!(&dup.duplicate_of, id);
    }
    // Records keep working after compaction renumbered them.
    index.insert(
        "late",
        &Keys::default(),
        Fingerprint::of(&fixture("000_other_report.txt")),
        t(10),
    );
    let dup = index
        .check(
            &Keys::default(),
            &Fingerprint::of(&fixture("000_other_report.txt")),
        )
        .expect("late record");
    assert_eq!(dup.duplicate_of, "late");
}

#[test]
fn a_fingerprint_read_back_from_storage_still_matches() {
    let (seed_id, seed_text) = seeds().swap_remove(2);
    let fp = Fingerprint::of(&seed_text);
    let json = serde_json::to_string(&fp).expect("serialize");
    let back: Fingerprint = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back.key_count(), fp.key_count());
    assert!(
        json.len() < 2048,
        "persisted fingerprint is {} bytes",
        json.len()
    );

    let mut index = seeded_index();
    // Against seeds a read-back fingerprint is compared through its keys.
    let dup = index.check(&Keys::default(), &back).expect("copy of seed");
    assert_eq!(
        (dup.duplicate_of.as_str(), dup.method),
        (seed_id.as_str(), DupMethod::Hash)
    );
    let edited = Fingerprint::of(&fixture(&format!("{}_edited.txt", &seed_id[..3])));
    let edited: Fingerprint =
        serde_json::from_str(&serde_json::to_string(&edited).expect("ser")).expect("de");
    let dup = index
        .check(&Keys::default(), &edited)
        .expect("edited copy of seed");
    assert_eq!(
        (dup.duplicate_of.as_str(), dup.method),
        (seed_id.as_str(), DupMethod::Near)
    );
    // Restored into a fresh index, it is found by later copies.
    index = Index::new(Params::default());
    index.insert("restored", &Keys::default(), back, t(0));
    let teaser = fixture(&format!("{}_teaser.txt", &seed_id[..3]));
    let dup = index
        .check(&Keys::default(), &Fingerprint::of(&teaser))
        .expect("teaser of restored record");
    assert_eq!(dup.duplicate_of, "restored");
}

#[test]
fn odd_inputs_neither_panic_nor_match() {
    let index = seeded_index();
    let long_line = "word ".repeat(100_000);
    let odd = [
        "",
        "   \n\n\t",
        "!!! ... ---",
        "Advertisement",
        "ｆｕｌｌｗｉｄｔｈ ＴＥＸＴ ｏｎｅ ｔｗｏ",
        "e\u{301}te\u{301} cafe\u{301}\u{0}\u{7}\u{feff}",
        long_line.as_str(),
        "\u{202e}mirrored\u{202c} text \u{1F600}",
    ];
    for text in odd {
        let fp = Fingerprint::of(text);
        assert_eq!(
            index.check(&Keys::default(), &fp),
            None,
            "{:?}",
            &text[..text.len().min(30)]
        );
    }
    // Two empty texts are not "the same text".
    let mut index = Index::new(Params::default());
    index.insert("empty", &Keys::default(), Fingerprint::of(""), t(0));
    assert_eq!(index.check(&Keys::default(), &Fingerprint::of("  ")), None);
}

#[test]
fn compatibility_forms_fold_to_the_same_text() {
    let plain = Fingerprint::of(
        "The office said the café in Kyiv reopened on Monday after repairs were finished.",
    );
    let odd = Fingerprint::of(
        "The ofﬁce said the cafe\u{301} in Kyiv reopened on Monday after repairs were ﬁnished.",
    );
    let mut index = Index::new(Params::default());
    index.insert("plain", &Keys::default(), plain, t(0));
    let dup = index.check(&Keys::default(), &odd).expect("same text");
    assert_eq!(dup.method, DupMethod::Hash);
}

#[test]
fn canonical_urls() {
    let cases = [
        (
            "HTTP://Example.COM:80/a/b?b=2&a=1#frag",
            Some("http://example.com/a/b?a=1&b=2"),
        ),
        (
            "https://www.example.com:443/news/x?utm_source=rss&utm_medium=feed&id=5&fbclid=abc&gclid=z&mc_cid=q",
            Some("https://example.com/news/x?id=5"),
        ),
        (
            "https://m.example.co.uk/world/story-1",
            Some("https://example.co.uk/world/story-1"),
        ),
        (
            "https://amp.example.com/world/story-1/amp",
            Some("https://example.com/world/story-1"),
        ),
        (
            "https://example.com/amp/world/story-1/",
            Some("https://example.com/world/story-1/"),
        ),
        (
            "https://example.com/world/story-1?amp=1",
            Some("https://example.com/world/story-1"),
        ),
        (
            "https://example.com/world/story-1?amp",
            Some("https://example.com/world/story-1"),
        ),
        (
            "https://example.com./Path/Case/",
            Some("https://example.com/Path/Case/"),
        ),
        // `amp` as the whole path, an `m.` that is the registrable name, and
        // a value-carrying `amp` parameter are content, not variants.
        ("https://example.com/amp", Some("https://example.com/amp")),
        ("https://m.com/a", Some("https://m.com/a")),
        (
            "https://example.com/a?amp=section",
            Some("https://example.com/a?amp=section"),
        ),
        (
            "https://example.com/search?q=a+b&page=2",
            Some("https://example.com/search?page=2&q=a+b"),
        ),
        ("not a url", None),
        ("/relative/path", None),
        ("mailto:desk@example.com", None),
        ("ftp://example.com/file", None),
        ("", None),
    ];
    for (raw, want) in cases {
        assert_eq!(canonicalize(raw).as_deref(), want, "{raw}");
    }
    // Canonical forms are fixed points.
    for (raw, _) in cases {
        if let Some(c) = canonicalize(raw) {
            assert_eq!(canonicalize(&c).as_deref(), Some(c.as_str()), "{raw}");
        }
    }
}

#[test]
fn scripts_without_spaces_are_shingled_by_character() {
    let story = "乌克兰总统泽连斯基周一表示，他准备前往土耳其与俄罗斯总统普京举行直接会谈。\n\
                 他在社交媒体上写道，乌克兰所有人都希望美国总统特朗普也能到场。\n\
                 克里姆林宫尚未说明普京是否会亲自出席这次会谈。";
    let other = "欧盟能源部长周一同意为下一个冬季保留灵活的储气目标，让成员国在价格较低时有更多购买空间。\n\
                 根据这一妥协方案，各国仍须达到百分之九十的储气水平。";
    let mut index = Index::new(Params::default());
    index.insert("story", &Keys::default(), Fingerprint::of(story), t(0));
    index.insert("other", &Keys::default(), Fingerprint::of(other), t(0));
    let teaser = story.lines().next().expect("first line");
    let dup = index
        .check(&Keys::default(), &Fingerprint::of(teaser))
        .expect("teaser of the story");
    assert_eq!(dup.duplicate_of, "story");
    let unrelated =
        "上海市政府周三批准了一条新的有轨电车线路，连接火车站与北部郊区，预计每天运送四万名乘客。";
    assert_eq!(
        index.check(&Keys::default(), &Fingerprint::of(unrelated)),
        None
    );
}

#[test]
fn sharing_the_quotes_of_a_seed_is_not_copying_it() {
    let index = seeded_index();
    // Own sentences around three quotes taken word for word from seed 000.
    let quotes = "Zelensky spoke in Davos on Wednesday.\n\
        “It can’t be without the United States,” he told the panel. \
        “Even if some European friends think it can be, no, it can’t be. Nobody will risk without the United States.” \
        “Ending the war should be a victory for Trump, not for Putin.” “Putin is nobody to him.”\n\
        On Beijing: “He can push Putin for peace, I’m sure.” “Putin’s economy depends very much on China.” \
        On guarantees: “The only question is what security guarantees, and honestly, I want to have understanding before the talks.” \
        “We do not want this to happen behind the backs of Ukraine.”\n\
        The forum closes on Friday with a session on trade and the global economy.";
    let fp = Fingerprint::of(quotes);
    let verdict = index.assess(&Keys::default(), &fp);
    assert_eq!(
        verdict.duplicate, None,
        "similarity {:.3}",
        verdict.similarity
    );

    // The same quotes with the seed's own sentences around them are a copy.
    let (seed_id, seed_text) = seeds().swap_remove(0);
    let copy: String = seed_text
        .lines()
        .skip(1)
        .take(7)
        .collect::<Vec<_>>()
        .join("\n");
    let dup = index
        .check(&Keys::default(), &Fingerprint::of(&copy))
        .expect("copy");
    assert_eq!(dup.duplicate_of, seed_id);
}

/// Prose made of the words numbered `from..to` for each of `parts` (each
/// its own word), in sentences of 12.
fn prose(parts: &[(usize, usize)]) -> String {
    let words: Vec<String> = parts
        .iter()
        .flat_map(|&(from, to)| from..to)
        .map(|i| format!("word{i}"))
        .collect();
    words
        .chunks(12)
        .map(|s| format!("{}.", s.join(" ")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A <- B <- C <- D, each ingested by a run of its own (so the later ones
/// learn the earlier verdicts from the state store): B copies most of A, C
/// most of B, D most of C, each too little of the ones before to be their
/// copy on its own. All are copies of A's story: each names A, the root,
/// and the copy it was found through.
#[test]
fn a_chain_of_copies_points_at_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::support::config(dir.path(), "");
    let texts = [
        ("a", prose(&[(0, 300)])),
        ("b", prose(&[(0, 200), (1000, 1100)])),
        ("c", prose(&[(100, 200), (1000, 1100), (2000, 2100)])),
        ("d", prose(&[(1000, 1100), (2000, 2100), (3000, 3100)])),
    ];
    for (name, text) in &texts {
        let path = dir.path().join(format!("{name}.txt"));
        fs::write(
            &path,
            format!("Story {name} of the chain of copies\n\n{text}\n"),
        )
        .unwrap();
        let out = crate::support::tidings(
            dir.path(),
            &[
                "backfill",
                "--config",
                cfg.to_str().unwrap(),
                path.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", crate::support::stderr(&out));
    }
    let records = crate::support::records(&dir.path().join("out.jsonl"));
    assert_eq!(records.len(), 4, "near copies are written, flagged");
    let id = |i: usize| records[i]["id"].as_str().unwrap();
    let chain: Vec<(&str, &serde_json::Value, &serde_json::Value)> = records
        .iter()
        .map(|r| {
            (
                r["title"].as_str().unwrap(),
                &r["duplicate_of"],
                &r["duplicate_via"],
            )
        })
        .collect();
    let root = serde_json::json!(id(0));
    let null = serde_json::Value::Null;
    assert_eq!(
        chain,
        [
            ("Story a of the chain of copies", &null, &null),
            ("Story b of the chain of copies", &root, &null),
            (
                "Story c of the chain of copies",
                &root,
                &serde_json::json!(id(1))
            ),
            (
                "Story d of the chain of copies",
                &root,
                &serde_json::json!(id(2))
            ),
        ]
    );
}
