//! Fits the topic model (`[topic_model]` in `config/taxonomy.toml`) to a
//! labelled split: a logistic regression over the `TOPIC_FEATURES` of
//! every topic with a cue in a relevant article, the label saying whether the article discusses it. It prints the
//! cross-validated topic figures for each strength of regularisation, then
//! the model fitted on the whole split with the strength that scored best,
//! as TOML to paste into the taxonomy.
//!
//! `cargo run --release --example topic_train -- [LABELS.toml] [--folds K]`
//!
//! LABELS defaults to the dev split, `tests/fixtures/tag/labels.toml`
//! (articles in `articles/` beside it). Never give it the holdout split:
//! that split judges the model and must not shape it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Deserialize;
use tidings::tag::{Features, TOPIC_FEATURES, Tagger, Taxonomy};

#[derive(Deserialize)]
struct Label {
    relevant: bool,
    #[serde(default)]
    topics: Vec<String>,
}

/// One topic with a cue in one relevant article.
struct Example {
    name: String,
    article: usize,
    features: Features,
    discussed: bool,
}

/// Regularisation strengths tried (L2 penalty per example).
const L2: [f64; 6] = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3];
const STEPS: usize = 4000;
const RATE: f64 = 0.5;

fn main() -> ExitCode {
    let mut labels = PathBuf::from("tests/fixtures/tag/labels.toml");
    let mut folds = 10usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--folds" => match args.next().and_then(|k| k.parse().ok()) {
                Some(k) if k >= 2 => folds = k,
                _ => return usage(),
            },
            _ if !a.starts_with('-') => labels = PathBuf::from(a),
            _ => return usage(),
        }
    }
    let taxonomy = Taxonomy::embedded();
    let topics: Vec<String> = taxonomy.topics.iter().map(|t| t.id.clone()).collect();
    let tagger = match Tagger::new(&taxonomy) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("topic_train: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (examples, missed) = match load(&labels, &tagger, &topics) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("topic_train: {e}");
            return ExitCode::FAILURE;
        }
    };
    let articles = examples
        .iter()
        .map(|e| e.article)
        .max()
        .map_or(0, |a| a + 1);
    println!(
        "{} relevant articles, {} topic candidates ({} discussed), {} labelled topics without a cue",
        articles,
        examples.len(),
        examples.iter().filter(|e| e.discussed).count(),
        missed
    );
    let cue_only = evaluate(&examples, missed, |_, e| e.features[0] >= 0.6);
    println!("cue score >= 0.6 (no model): {cue_only}");
    let mut best = (f64::MIN, L2[0]);
    for l2 in L2 {
        // Each fold's articles are scored by a model fitted without them.
        let mut predicted = vec![false; examples.len()];
        for fold in 0..folds {
            let train: Vec<&Example> = examples
                .iter()
                .filter(|e| e.article % folds != fold)
                .collect();
            let model = fit(&train, l2);
            for (i, e) in examples.iter().enumerate() {
                if e.article % folds == fold {
                    predicted[i] = model.probability(e) >= 0.5;
                }
            }
        }
        let cv = evaluate(&examples, missed, |i, _| predicted[i]);
        if std::env::var_os("TOPIC_TRAIN_ERRORS").is_some() {
            for (e, p) in examples.iter().zip(&predicted) {
                if *p != e.discussed {
                    let f: Vec<String> = e.features.iter().map(|v| format!("{v:.2}")).collect();
                    println!(
                        "  {} {} [{}]",
                        if *p { "FP" } else { "FN" },
                        e.name,
                        f.join(" ")
                    );
                }
            }
        }
        println!("l2 {l2}: {folds}-fold cross-validated {cv}");
        if cv.f1 > best.0 {
            best = (cv.f1, l2);
        }
    }
    let all: Vec<&Example> = examples.iter().collect();
    let model = fit(&all, best.1);
    println!("fitted on the whole split (l2 {}): {}", best.1, {
        evaluate(&examples, missed, |_, e| model.probability(e) >= 0.5)
    });
    println!("\n[topic_model]\nintercept = {:.3}", model.intercept);
    let weights: Vec<String> = TOPIC_FEATURES
        .iter()
        .zip(&model.weights)
        .map(|(n, w)| format!("{n} = {w:.3}"))
        .collect();
    println!("weights = {{ {} }}", weights.join(", "));
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: topic_train [LABELS.toml] [--folds K]");
    ExitCode::from(2)
}

/// The examples of every article labelled relevant, and how many labelled
/// topics had no cue at all (misses no model can recover).
fn load(
    labels: &Path,
    tagger: &Tagger,
    topics: &[String],
) -> Result<(Vec<Example>, usize), String> {
    let raw = std::fs::read_to_string(labels).map_err(|e| format!("{}: {e}", labels.display()))?;
    let table: BTreeMap<String, Label> =
        toml::from_str(&raw).map_err(|e| format!("{}: {e}", labels.display()))?;
    let dir = labels.parent().unwrap_or(Path::new(".")).join("articles");
    let mut examples = Vec::new();
    let mut missed = 0;
    let mut article = 0;
    for (name, label) in table.iter().filter(|(_, l)| l.relevant) {
        let path = dir.join(format!("{name}.txt"));
        let doc = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (title, body) = doc.split_once('\n').unwrap_or((&doc, ""));
        let wanted: BTreeSet<&str> = label.topics.iter().map(String::as_str).collect();
        let mut found = BTreeSet::new();
        for (id, features) in tagger.topic_features(title, body) {
            let Some(topic) = topics.iter().position(|t| *t == id) else {
                continue;
            };
            let discussed = wanted.contains(id.as_str());
            if discussed {
                found.insert(topic);
            }
            examples.push(Example {
                name: format!("{name} {id}"),
                article,
                features,
                discussed,
            });
        }
        missed += wanted.len() - found.len();
        article += 1;
    }
    Ok((examples, missed))
}

struct Figures {
    precision: f64,
    recall: f64,
    f1: f64,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "topics precision {:.3} recall {:.3} F1 {:.3}",
            self.precision, self.recall, self.f1
        )
    }
}

fn evaluate(
    examples: &[Example],
    missed: usize,
    tagged: impl Fn(usize, &Example) -> bool,
) -> Figures {
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, missed);
    for (i, e) in examples.iter().enumerate() {
        match (tagged(i, e), e.discussed) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    let f1 = 2.0 * precision * recall / (precision + recall).max(f64::MIN_POSITIVE);
    Figures {
        precision,
        recall,
        f1,
    }
}

/// A fitted model, on the features as the tagger computes them.
struct Model {
    intercept: f64,
    weights: Features,
}

impl Model {
    fn probability(&self, e: &Example) -> f64 {
        let sum = self.intercept
            + self
                .weights
                .iter()
                .zip(&e.features)
                .map(|(w, x)| w * x)
                .sum::<f64>();
        1.0 / (1.0 + (-sum).exp())
    }
}

/// Logistic regression by gradient descent on standardised features, with
/// an L2 penalty on the weights (not the intercept);
/// the weights are then turned back to the features' own scale.
fn fit(examples: &[&Example], l2: f64) -> Model {
    let k = TOPIC_FEATURES.len();
    let n = examples.len().max(1) as f64;
    let mut mean = [0.0; TOPIC_FEATURES.len()];
    let mut sd = [0.0; TOPIC_FEATURES.len()];
    for e in examples {
        for (m, x) in mean.iter_mut().zip(&e.features) {
            *m += x / n;
        }
    }
    for e in examples {
        for ((v, x), m) in sd.iter_mut().zip(&e.features).zip(&mean) {
            *v += (x - m).powi(2) / n;
        }
    }
    let sd = sd.map(|v| v.sqrt().max(1e-6));
    let standard =
        |e: &Example| -> Vec<f64> { (0..k).map(|j| (e.features[j] - mean[j]) / sd[j]).collect() };
    let x: Vec<Vec<f64>> = examples.iter().map(|e| standard(e)).collect();
    let (mut w, mut c) = (vec![0.0; k], 0.0);
    for _ in 0..STEPS {
        let (mut gw, mut gc) = (vec![0.0; k], 0.0);
        for (e, xi) in examples.iter().zip(&x) {
            let z = c + w.iter().zip(xi).map(|(a, v)| a * v).sum::<f64>();
            let err = 1.0 / (1.0 + (-z).exp()) - f64::from(u8::from(e.discussed));
            for (g, v) in gw.iter_mut().zip(xi) {
                *g += err * v / n;
            }
            gc += err / n;
        }
        for (wj, g) in w.iter_mut().zip(&gw) {
            *wj -= RATE * (g + l2 * *wj);
        }
        c -= RATE * gc;
    }
    let mut weights = [0.0; TOPIC_FEATURES.len()];
    let mut intercept = c;
    for (((out, wj), m), s) in weights.iter_mut().zip(&w).zip(&mean).zip(&sd) {
        *out = wj / s;
        intercept -= wj * m / s;
    }
    Model { intercept, weights }
}
