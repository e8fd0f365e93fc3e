//! Scores the extractor on a folder of pages with their true article text
//! (`<id>.html` + `ground-truth.json`), with the shingle metric of the
//! article-extraction benchmark: 4-token shingles, per-page tp/fp/fn
//! normalized, precision over non-empty predictions, recall over all pages.
//!
//! `cargo run --release --example extract_eval -- DIR [--worst N] [--save OUT_DIR]`
//!
//! `--save` writes the extracted text of each page to `OUT_DIR/<id>.txt`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use regex::Regex;
use tidings::extract::{Options, extract};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut worst = 0usize;
    let mut save = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--worst" => worst = args.next().and_then(|n| n.parse().ok()).unwrap_or(10),
            "--save" => save = args.next().map(PathBuf::from),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: extract_eval DIR [--worst N] [--save OUT_DIR]");
        return ExitCode::FAILURE;
    };
    let truth_path = dir.join("ground-truth.json");
    let truth: HashMap<String, serde_json::Value> = match std::fs::read(&truth_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", truth_path.display());
            return ExitCode::FAILURE;
        }
    };
    let words = Regex::new(r"\w+").expect("valid regex");
    let opts = Options::default();
    let mut ids: Vec<&String> = truth.keys().collect();
    ids.sort();
    let (mut p_sum, mut p_n, mut r_sum, mut exact) = (0.0, 0usize, 0.0, 0usize);
    let mut scored = Vec::new();
    for id in &ids {
        let entry = &truth[*id];
        let want = entry["articleBody"].as_str().unwrap_or_default();
        let url = entry["url"].as_str();
        let Ok(bytes) = std::fs::read(dir.join(format!("{id}.html"))) else {
            eprintln!("{id}: page missing");
            continue;
        };
        let got = extract(&bytes, None, url, &opts)
            .map(|e| e.text)
            .unwrap_or_default();
        if let Some(out) = &save {
            let path = out.join(format!("{id}.txt"));
            if let Err(e) = std::fs::create_dir_all(out).and_then(|()| std::fs::write(&path, &got))
            {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        let got_tokens = tokens(&words, &got);
        let want_tokens = tokens(&words, want);
        if got_tokens == want_tokens {
            exact += 1;
        }
        let (tp, fp, fn_) = overlap(&shingles(&got_tokens), &shingles(&want_tokens));
        let total = (tp + fp + fn_).max(1) as f64;
        let (tp, fp, fn_) = (tp as f64 / total, fp as f64 / total, fn_ as f64 / total);
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let recall = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
        if !got_tokens.is_empty() {
            p_sum += precision;
            p_n += 1;
        }
        r_sum += recall;
        scored.push((id.as_str(), precision, recall));
    }
    let n = scored.len().max(1) as f64;
    let precision = p_sum / p_n.max(1) as f64;
    let recall = r_sum / n;
    let f1 = 2.0 * precision * recall / (precision + recall).max(f64::EPSILON);
    println!(
        "pages {}  precision {precision:.4}  recall {recall:.4}  F1 {f1:.4}  accuracy {:.4}",
        scored.len(),
        exact as f64 / n
    );
    scored.sort_by(|a, b| (a.1 + a.2).total_cmp(&(b.1 + b.2)));
    for (id, p, r) in scored.iter().take(worst) {
        println!("{id}  P {p:.3}  R {r:.3}");
    }
    ExitCode::SUCCESS
}

fn tokens<'a>(re: &Regex, text: &'a str) -> Vec<&'a str> {
    re.find_iter(text).map(|m| m.as_str()).collect()
}

fn shingles<'a>(tokens: &[&'a str]) -> HashMap<Vec<&'a str>, usize> {
    let mut out = HashMap::new();
    if tokens.is_empty() {
        return out;
    }
    if tokens.len() < 4 {
        out.insert(tokens.to_vec(), 1);
        return out;
    }
    for w in tokens.windows(4) {
        *out.entry(w.to_vec()).or_insert(0) += 1;
    }
    out
}

fn overlap<'a>(
    got: &HashMap<Vec<&'a str>, usize>,
    want: &HashMap<Vec<&'a str>, usize>,
) -> (usize, usize, usize) {
    let got_total: usize = got.values().sum();
    let want_total: usize = want.values().sum();
    let tp: usize = got
        .iter()
        .map(|(k, &n)| n.min(want.get(k).copied().unwrap_or(0)))
        .sum();
    (tp, got_total - tp, want_total - tp)
}
