//! Scores the extractor on a folder in the format of WCXB, the Web Content
//! eXtraction Benchmark (`html/<id>.html.gz` + `ground-truth/<id>.json`),
//! with the benchmark's metric: word-level F1 per page (tokens are the runs
//! of `\w+` in the lower-cased text, counted as a multiset), averaged over
//! pages; an empty prediction scores 0. A page under F1 0.5 is a collapse:
//! the wrong block chosen, or nothing found. Every collapse is listed.
//!
//! `cargo run --release --example wcxb_eval -- DIR [--other NAME=PRED_DIR] [--worst N] [--save OUT_DIR]`
//!
//! `--other` scores another extractor's predictions (`PRED_DIR/<id>.txt`, a
//! missing file counts as an empty prediction) on the same pages in the same
//! run, and counts the pages each side wins. `--save` writes tidings' text of
//! each page to `OUT_DIR/<id>.txt`, to read beside the truth.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use regex::Regex;
use tidings::extract::{Options, extract};

/// Under this F1 a page has collapsed.
const COLLAPSE: f64 = 0.5;

struct Page {
    id: String,
    url: String,
    truth: String,
    html: Vec<u8>,
}

struct Score {
    precision: f64,
    recall: f64,
    f1: f64,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut dir, mut other, mut worst, mut save) = (None, None, 0usize, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--save" => save = args.next().map(PathBuf::from),
            "--worst" => worst = args.next().and_then(|n| n.parse().ok()).unwrap_or(10),
            "--other" => {
                other = args.next().and_then(|s| {
                    s.split_once('=')
                        .map(|(name, path)| (name.to_string(), PathBuf::from(path)))
                })
            }
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: wcxb_eval DIR [--other NAME=PRED_DIR] [--worst N] [--save OUT_DIR]");
        return ExitCode::FAILURE;
    };
    let pages = match load(&dir) {
        Ok(pages) => pages,
        Err(e) => {
            eprintln!("cannot read {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    let words = Regex::new(r"\w+").expect("valid regex");
    let opts = Options::default();
    let mut ours = Vec::with_capacity(pages.len());
    for page in &pages {
        let got = extract(&page.html, None, Some(&page.url), &opts);
        let text = got.as_ref().map(|e| e.text.as_str()).unwrap_or_default();
        let why = got.as_ref().err().map(|e| e.to_string());
        if let Some(out) = &save {
            let path = out.join(format!("{}.txt", page.id));
            if let Err(e) = std::fs::create_dir_all(out).and_then(|()| std::fs::write(&path, text))
            {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        ours.push((score(&words, text, &page.truth), why));
    }
    report("tidings", &pages, &ours, worst);

    if let Some((name, pred_dir)) = other {
        let theirs: Vec<(Score, Option<String>)> = pages
            .iter()
            .map(|page| {
                let text = std::fs::read_to_string(pred_dir.join(format!("{}.txt", page.id)))
                    .unwrap_or_default();
                (score(&words, &text, &page.truth), None)
            })
            .collect();
        report(&name, &pages, &theirs, worst);
        let better = ours
            .iter()
            .zip(&theirs)
            .filter(|(a, b)| a.0.f1 > b.0.f1 + 0.01)
            .count();
        let worse = ours
            .iter()
            .zip(&theirs)
            .filter(|(a, b)| a.0.f1 + 0.01 < b.0.f1)
            .count();
        println!(
            "page by page (F1 apart by more than 0.01): tidings better on {better}, {name} better on {worse}"
        );
    }
    ExitCode::SUCCESS
}

/// The pages of a WCXB-format folder, in id order.
fn load(dir: &Path) -> Result<Vec<Page>, String> {
    let truth_dir = dir.join("ground-truth");
    let mut ids: Vec<String> = std::fs::read_dir(&truth_dir)
        .map_err(|e| format!("{}: {e}", truth_dir.display()))?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    ids.sort();
    let mut pages = Vec::with_capacity(ids.len());
    for id in ids {
        let path = truth_dir.join(format!("{id}.json"));
        let json: serde_json::Value = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let gz = dir.join("html").join(format!("{id}.html.gz"));
        let mut html = Vec::new();
        std::fs::File::open(&gz)
            .and_then(|f| flate2::read::GzDecoder::new(f).read_to_end(&mut html))
            .map_err(|e| format!("{}: {e}", gz.display()))?;
        pages.push(Page {
            url: json["url"].as_str().unwrap_or_default().to_string(),
            truth: json["ground_truth"]["main_content"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            id,
            html,
        });
    }
    Ok(pages)
}

/// The benchmark's word F1 of one prediction.
fn score(words: &Regex, got: &str, want: &str) -> Score {
    let bag = |text: &str| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for w in words.find_iter(&text.to_lowercase()) {
            *counts.entry(w.as_str().to_string()).or_insert(0) += 1;
        }
        counts
    };
    let (got, want) = (bag(got), bag(want));
    let got_n: usize = got.values().sum();
    let want_n: usize = want.values().sum();
    let common: usize = got
        .iter()
        .map(|(w, &n)| n.min(want.get(w).copied().unwrap_or(0)))
        .sum();
    if got_n == 0 || want_n == 0 || common == 0 {
        return Score {
            precision: 0.0,
            recall: 0.0,
            f1: 0.0,
        };
    }
    let precision = common as f64 / got_n as f64;
    let recall = common as f64 / want_n as f64;
    Score {
        precision,
        recall,
        f1: 2.0 * precision * recall / (precision + recall),
    }
}

fn report(name: &str, pages: &[Page], scores: &[(Score, Option<String>)], worst: usize) {
    let n = scores.len().max(1) as f64;
    let mean = |f: fn(&Score) -> f64| scores.iter().map(|(s, _)| f(s)).sum::<f64>() / n;
    let collapses: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i].0.f1 < COLLAPSE)
        .collect();
    println!(
        "{name}: pages {}  mean word F1 {:.4}  (precision {:.4}, recall {:.4})  collapses (F1 < {COLLAPSE}) {}",
        scores.len(),
        mean(|s| s.f1),
        mean(|s| s.precision),
        mean(|s| s.recall),
        collapses.len()
    );
    for &i in &collapses {
        let (s, why) = &scores[i];
        println!(
            "  collapse {}  F1 {:.3}  P {:.3}  R {:.3}  {}{}",
            pages[i].id,
            s.f1,
            s.precision,
            s.recall,
            pages[i].url,
            why.as_ref().map(|w| format!("  ({w})")).unwrap_or_default()
        );
    }
    if worst > 0 {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[a].0.f1.total_cmp(&scores[b].0.f1));
        for &i in order
            .iter()
            .filter(|&&i| scores[i].0.f1 >= COLLAPSE)
            .take(worst)
        {
            let s = &scores[i].0;
            println!(
                "  weak {}  F1 {:.3}  P {:.3}  R {:.3}  {}",
                pages[i].id, s.f1, s.precision, s.recall, pages[i].url
            );
        }
    }
}
