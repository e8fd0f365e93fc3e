use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tidings::record::{ActorKind, Tags};
use tidings::tag::{Tagger, Taxonomy, TaxonomyError};

/// The seed corpus, relative to the crate root (`seeds/` in the main repo).
const SEEDS_DIR: &str = "seeds";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tag")
}

fn tagger() -> Tagger {
    Tagger::new(&Taxonomy::embedded()).expect("embedded taxonomy compiles")
}

/// Headline = first line, body = the rest.
fn split(doc: &str) -> (&str, &str) {
    doc.split_once('\n').unwrap_or((doc, ""))
}

fn actor_ids(tags: &Tags) -> BTreeSet<String> {
    tags.actors.iter().map(|a| a.id.clone()).collect()
}

fn topic_ids(tags: &Tags) -> BTreeSet<String> {
    tags.topics.iter().map(|t| t.id.clone()).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Label {
    relevant: bool,
    #[serde(default)]
    topics: BTreeSet<String>,
    actors: BTreeSet<String>,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn add(&mut self, expected: &BTreeSet<String>, found: &BTreeSet<String>) {
        self.tp += expected.intersection(found).count();
        self.fp += found.difference(expected).count();
        self.fn_ += expected.difference(found).count();
    }

    fn f1(&self) -> (f64, f64, f64) {
        let p = self.tp as f64 / (self.tp + self.fp).max(1) as f64;
        let r = self.tp as f64 / (self.tp + self.fn_).max(1) as f64;
        let f = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        (p, r, f)
    }
}

/// Relevance, actor and topic counts over a group of articles.
#[derive(Default, Clone, Copy)]
struct Figures {
    articles: usize,
    relevance: Counts,
    actors: Counts,
    topics: Counts,
}

impl Figures {
    fn rows(&self) -> [(&'static str, Counts); 3] {
        [
            ("relevance", self.relevance),
            ("actors", self.actors),
            ("topics", self.topics),
        ]
    }

    fn print(&self, group: &str) {
        eprintln!("{group} ({} articles):", self.articles);
        for (what, c) in self.rows() {
            let (p, r, f) = c.f1();
            eprintln!(
                "  {what:<9} precision {p:.3} recall {r:.3} F1 {f:.3} (tp {} fp {} fn {})",
                c.tp, c.fp, c.fn_
            );
        }
    }
}

/// Articles written mostly in Cyrillic (Russian or Ukrainian); the odd Latin
/// brand name ("Patriot") does not make them English.
fn is_cyrillic(doc: &str) -> bool {
    let (mut cyrillic, mut latin) = (0usize, 0usize);
    for c in doc.chars().filter(|c| c.is_alphabetic()) {
        match c {
            '\u{0400}'..='\u{04FF}' => cyrillic += 1,
            _ => latin += 1,
        }
    }
    cyrillic > latin
}

/// Tags every article of one split (`labels`, a file in the format of
/// labels.toml) and counts hits and misses, for all its articles and for
/// the Cyrillic ones. Misses are printed only when `show_misses`: the
/// holdout split reports its figures and nothing a tuner could fit to.
fn evaluate(file: &str, show_misses: bool) -> (Figures, Figures) {
    let dir = fixtures();
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let labels: BTreeMap<String, Label> = toml::from_str(&text).unwrap();
    let known: BTreeSet<String> = Taxonomy::embedded()
        .topics
        .iter()
        .map(|t| t.id.clone())
        .collect();
    let tagger = tagger();
    let (mut all, mut cyrillic) = (Figures::default(), Figures::default());
    let mut covered = BTreeSet::new();
    for (name, label) in &labels {
        let doc = std::fs::read_to_string(dir.join("articles").join(format!("{name}.txt")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (title, body) = split(&doc);
        let tags = tagger.tag(title, body);
        let yes = BTreeSet::from([String::from("relevant")]);
        let none = BTreeSet::new();
        let (want, got) = (
            if label.relevant { &yes } else { &none },
            if tags.relevant { &yes } else { &none },
        );
        assert!(label.topics.is_subset(&known), "{name}: unknown topic id");
        assert!(
            label.relevant || label.topics.is_empty(),
            "{name}: topics on an irrelevant article"
        );
        covered.extend(label.topics.iter().cloned());
        let groups: &mut [&mut Figures] = if is_cyrillic(&doc) {
            &mut [&mut all, &mut cyrillic]
        } else {
            &mut [&mut all]
        };
        for f in groups.iter_mut() {
            f.articles += 1;
            f.relevance.add(want, got);
            f.actors.add(&label.actors, &actor_ids(&tags));
            f.topics.add(&label.topics, &topic_ids(&tags));
        }
        let diff = |want: &BTreeSet<String>, got: &BTreeSet<String>| {
            let missing: Vec<_> = want.difference(got).collect();
            let extra: Vec<_> = got.difference(want).collect();
            (missing.is_empty() && extra.is_empty())
                .then(String::new)
                .unwrap_or_else(|| format!("missing {missing:?} extra {extra:?}"))
        };
        let (a, t) = (
            diff(&label.actors, &actor_ids(&tags)),
            diff(&label.topics, &topic_ids(&tags)),
        );
        let wrong = label.relevant != tags.relevant || !a.is_empty() || !t.is_empty();
        if show_misses && wrong {
            eprintln!(
                "  {name}: relevant {} (want {}, {:.3}); actors {a}; topics {t}",
                tags.relevant, label.relevant, tags.relevance
            );
        }
    }
    assert_eq!(covered, known, "{file} must cover every topic");
    (all, cyrillic)
}

/// The tagger against the labelled set (tests/fixtures/tag/README.md): the
/// dev split (labels.toml) and the holdout split (holdout.toml), each in
/// full and its Cyrillic articles alone. Run with `-- --nocapture` to see
/// the figures.
#[test]
fn labelled_set_meets_quality_targets() {
    let (dev, dev_cyrillic) = evaluate("labels.toml", true);
    let (holdout, holdout_cyrillic) = evaluate("holdout.toml", false);
    let splits = [
        ("dev", dev),
        ("dev, Cyrillic", dev_cyrillic),
        ("holdout", holdout),
        ("holdout, Cyrillic", holdout_cyrillic),
    ];
    for (group, f) in &splits {
        f.print(group);
    }
    assert!(
        dev.articles + holdout.articles >= 150,
        "only {} labelled articles",
        dev.articles + holdout.articles
    );
    assert!(
        dev_cyrillic.articles + holdout_cyrillic.articles >= 30 && holdout_cyrillic.articles >= 12,
        "too few Cyrillic articles"
    );
    assert!(
        holdout.articles * 10 >= (dev.articles + holdout.articles) * 4,
        "the holdout split must hold at least 40% of the articles"
    );
    // Issue 15's targets: relevance and actors 0.97 everywhere, topics 0.95.
    // Topics have not reached theirs yet (with the topic model: dev 0.902,
    // holdout 0.875 when this was written, 430 articles): until they do, the
    // floors stop a regression. The Cyrillic groups are small (48 to 76
    // articles).
    // Relevance, actors, topics, in the order of `splits`.
    let targets = [
        [0.97, 0.97, 0.88],
        [0.97, 0.97, 0.86],
        [0.97, 0.97, 0.85],
        [0.97, 0.97, 0.85],
    ];
    for ((group, f), floor) in splits.iter().zip(targets) {
        for ((what, c), target) in f.rows().into_iter().zip(floor) {
            assert!(
                c.f1().2 >= target,
                "{group}: {what} F1 {:.3} < {target}",
                c.f1().2
            );
        }
    }
}

#[test]
fn seeds_come_out_relevant_with_the_actors_they_name() {
    let expected: &[(&str, &[&str])] = &[
        (
            "000_59a1805b399ebc2d",
            &[
                "zelensky",
                "ukraine",
                "united_states",
                "russia",
                "trump",
                "putin",
                "xi_jinping",
                "china",
                "european_union",
            ],
        ),
        (
            "001_8d560390692858d2",
            &[
                "zelensky",
                "united_states",
                "russia",
                "ukraine",
                "trump",
                "witkoff",
                "rubio",
                "macron",
                "france",
                "peskov",
                "yermak",
                "germany",
                "united_kingdom",
                "sybiha",
                "putin",
            ],
        ),
        (
            "002_988dbeb1567e4a12",
            &[
                "zelensky",
                "ukraine",
                "united_states",
                "trump",
                "witkoff",
                "kushner",
            ],
        ),
        (
            "003_22f5f3dbaca030e6",
            &[
                "zelensky",
                "trump",
                "putin",
                "ukraine",
                "russia",
                "united_states",
                "turkey",
                "erdogan",
            ],
        ),
        (
            "004_cd679384d998e421",
            &[
                "zelensky",
                "trump",
                "putin",
                "ukraine",
                "russia",
                "united_states",
                "witkoff",
                "kushner",
            ],
        ),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(SEEDS_DIR);
    let tagger = tagger();
    for (stem, actors) in expected {
        let doc = std::fs::read_to_string(dir.join(format!("{stem}.txt"))).unwrap();
        let (title, body) = split(&doc);
        let tags = tagger.tag(title, body);
        assert!(tags.relevant, "{stem}: not relevant ({})", tags.relevance);
        let found = actor_ids(&tags);
        let missing: Vec<_> = actors.iter().filter(|a| !found.contains(**a)).collect();
        assert!(missing.is_empty(), "{stem}: missing actors {missing:?}");
    }
}

fn one(tags: &Tags, id: &str) -> Option<(u32, Vec<String>)> {
    tags.actors
        .iter()
        .find(|a| a.id == id)
        .map(|a| (a.mentions, a.spellings.clone()))
}

#[test]
fn spellings_are_reported_as_written_and_counted() {
    let tags = tagger().tag(
        "Erdoğan and Zelenskyy’s envoys meet",
        "President Zelenskiy thanked Erdogan. ZELENSKY said Зеленський is how Kyiv writes it.",
    );
    let (n, spellings) = one(&tags, "zelensky").unwrap();
    assert_eq!(n, 4);
    assert_eq!(
        spellings,
        ["Zelenskyy", "Zelenskiy", "ZELENSKY", "Зеленський"]
    );
    let (n, spellings) = one(&tags, "erdogan").unwrap();
    assert_eq!(
        (n, spellings),
        (2, vec!["Erdoğan".into(), "Erdogan".into()])
    );
    let erdogan = tags.actors.iter().find(|a| a.id == "erdogan").unwrap();
    assert_eq!(erdogan.name, "Recep Tayyip Erdogan");
    assert_eq!(erdogan.kind, ActorKind::Person);
}

#[test]
fn relatives_and_namesakes_are_not_the_person() {
    let t = tagger();
    let tags = t.tag(
        "",
        "Donald Trump Jr. spoke in Texas. Trump Jr. later met Olena Zelenska and \
         Charles Kushner, the ambassador. Kushner said nothing.",
    );
    let ids = actor_ids(&tags);
    for id in ["trump", "zelensky", "kushner"] {
        assert!(!ids.contains(id), "{id} tagged in {ids:?}");
    }
    let tags = t.tag(
        "",
        "Jared Kushner flew to Moscow. Kushner met Putin at the Kremlin.",
    );
    assert_eq!(one(&tags, "kushner").unwrap().0, 2);
}

#[test]
fn surnames_need_the_person_to_be_identifiable() {
    let t = tagger();
    let alone = t.tag(
        "",
        "Vance Joy played a concert. Vance's guitar was out of tune.",
    );
    assert!(!actor_ids(&alone).contains("vance"));
    let named = t.tag(
        "",
        "JD Vance spoke to Zelensky. Later Vance said the talks went well.",
    );
    assert_eq!(one(&named, "vance").unwrap().0, 2);
}

#[test]
fn us_pronoun_and_the_bird_are_not_states() {
    let t = tagger();
    let tags = t.tag(
        "Let us give thanks",
        "Let us carve the turkey. Turkey is the star of every Thanksgiving table. Join us.",
    );
    assert!(tags.actors.is_empty(), "{:?}", tags.actors);
    let tags = t.tag(
        "",
        "The US and Turkey signed a deal. Ankara said Turkey agreed.",
    );
    assert_eq!(one(&tags, "united_states").unwrap().1, ["US"]);
    assert_eq!(one(&tags, "turkey").unwrap().0, 3);
}

#[test]
fn capitals_count_only_as_governments() {
    let t = tagger();
    let place = t.tag(
        "",
        "A London-based fund opened an office. A book on Berlin after the war sold well. \
         Tourists walked in Paris.",
    );
    assert!(place.actors.is_empty(), "{:?}", place.actors);
    let government = t.tag(
        "",
        "London said it would send troops. Berlin rejected the plan. Moscow's demands grew.",
    );
    assert_eq!(
        actor_ids(&government),
        BTreeSet::from(["united_kingdom".into(), "germany".into(), "russia".into()])
    );
}

#[test]
fn europe_is_not_the_eu_and_the_iaea_is_not_the_un() {
    let t = tagger();
    let tags = t.tag(
        "",
        "European leaders met. Europe's gas prices rose. The IAEA sent inspectors.",
    );
    assert!(tags.actors.is_empty(), "{:?}", tags.actors);
    let tags = t.tag("", "The EU and the UN agreed; Brussels will pay.");
    assert_eq!(one(&tags, "european_union").unwrap().0, 2);
    assert_eq!(one(&tags, "united_nations").unwrap().0, 1);
}

#[test]
fn a_title_alone_names_nobody_but_an_administration_names_its_head() {
    let tags = tagger().tag(
        "",
        "Ukraine's president met the Trump administration's envoys to discuss a ceasefire.",
    );
    let ids = actor_ids(&tags);
    assert!(!ids.contains("zelensky"));
    assert!(ids.contains("trump"));
}

#[test]
fn topics_carry_evidence_sentences_from_the_article() {
    let body = "Russia and Ukraine agreed to a 30-day ceasefire on Monday. \
                Zelensky said the truce must hold along the whole front. \
                Putin said talks would continue in Istanbul.";
    let tags = tagger().tag("Kyiv and Moscow agree truce", body);
    assert!(tags.relevant);
    let ceasefire = tags.topics.iter().find(|t| t.id == "ceasefire").unwrap();
    assert_eq!(ceasefire.label, "Ceasefire");
    assert!(ceasefire.score > 0.6 && ceasefire.score <= 1.0);
    assert!(
        ceasefire
            .evidence
            .iter()
            .any(|e| e == "Russia and Ukraine agreed to a 30-day ceasefire on Monday.")
    );
    for e in &ceasefire.evidence {
        assert!(
            body.contains(e.as_str()) || e == "Kyiv and Moscow agree truce",
            "{e}"
        );
    }
}

#[test]
fn a_topic_one_sentence_calls_for_is_tagged_and_one_named_in_an_aside_is_not() {
    // One sentence is enough to discuss a topic when the topic is what the
    // sentence is about; a topic in a phrase that sets the scene is not
    // discussed.
    let strike = |sanctions: &str| {
        format!(
            "At least 23 people were killed when a Russian missile hit an apartment block \
             in Kyiv overnight, Ukrainian officials said. Rescuers worked through the \
             morning to pull survivors from the rubble. {sanctions} More than 50 people \
             were wounded across the capital, and thousands of homes were left without \
             heating. Foreign Minister Andrii Sybiha said the attack showed that Moscow \
             had no interest in peace."
        )
    };
    let title = "Russian strike on Kyiv apartment block kills 23";
    let called = strike("Zelensky called on partners to impose tougher sanctions on Russian oil.");
    let aside = strike("The attack came weeks after new sanctions on Russian oil took effect.");
    let called = tagger().tag(title, &called);
    let aside = tagger().tag(title, &aside);
    assert!(called.relevant && aside.relevant);
    assert!(topic_ids(&called).contains("sanctions"), "{called:?}");
    assert!(!topic_ids(&aside).contains("sanctions"), "{aside:?}");
    assert!(topic_ids(&aside).contains("civilian_harm"));
}

#[test]
fn irrelevant_articles_carry_no_topics() {
    let tags = tagger().tag(
        "Gaza truce holds",
        "The ceasefire between Israel and Hamas held. Negotiators in Cairo discussed \
         a prisoner exchange and reconstruction. Ukraine was not discussed.",
    );
    assert!(!tags.relevant);
    assert!(tags.topics.is_empty());
}

const SMALL: &str = r#"
[relevance]
threshold = 0.5
peace_scale = 1.0
focus_full = 0.3
title_weight = 1.0
anchors = ["hungary"]

[[actors]]
id = "hungary"
name = "Hungary"
kind = "state"
aliases = ["Hungary", "Hungarian"]
seats = ["Budapest"]

[[actors]]
id = "orban"
name = "Viktor Orbán"
kind = "person"
aliases = ["Viktor Orban"]
surnames = ["Orban"]

[[topics]]
id = "energy_supply"
label = "Energy supply"
threshold = 0.6

[topics.cues]
"pipeline" = 1.0
"gas deliveries" = 1.0
"#;

#[test]
fn a_new_actor_and_topic_need_only_config() {
    let taxonomy = Taxonomy::from_toml(SMALL).unwrap();
    let problems = taxonomy.problems("small.toml");
    assert!(problems.is_empty(), "{problems:?}");
    let t = Tagger::new(&taxonomy).unwrap();
    let tags = t.tag(
        "Orbán defends pipeline",
        "Viktor Orbán said Hungary needs the pipeline. Budapest wants gas deliveries to continue.",
    );
    assert_eq!(
        actor_ids(&tags),
        BTreeSet::from(["orban".into(), "hungary".into()])
    );
    assert_eq!(
        one(&tags, "orban").unwrap(),
        (2, vec!["Orbán".into(), "Viktor Orbán".into()])
    );
    assert!(tags.relevant);
    assert_eq!(topic_ids(&tags), BTreeSet::from(["energy_supply".into()]));
}

#[test]
fn problems_name_every_mistake_with_its_key() {
    let bad = SMALL
        .replace("threshold = 0.6", "threshold = 1.5")
        .replace(
            "anchors = [\"hungary\"]",
            "anchors = [\"hungary\", \"poland\"]",
        )
        .replace("\"pipeline\" = 1.0", "\"pipeline\" = 0.0\n\"  \" = 0.5")
        .replace(
            "surnames = [\"Orban\"]",
            "surnames = [\"Orban\", \"\"]\nseats = [\"Hungarian\"]",
        )
        + "\n[[actors]]\nid = \"orban\"\nname = \"\"\nkind = \"person\"\naliases = [\"Orban\"]\n"
        + "\n[[topics]]\nid = \"other\"\nlabel = \"Other\"\nthreshold = 0.5\nexclude = [\"'s\"]\n"
        + "[topics.cues]\n\"gas\" = 0.5\n"
        + "\n[topic_model]\nintercept = nan\nweights = { cues = 2.0, length = 1.0 }\n"
        + "\n[clauses]\nasides = [\"after\", \"After\"]\nstances = [\"-\"]\n";
    let taxonomy = Taxonomy::from_toml(&bad).unwrap();
    let problems: Vec<String> = taxonomy
        .problems("bad.toml")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(problems.iter().all(|p| p.starts_with("bad.toml: ")));
    let problems = problems.join("\n");
    for expected in [
        "topics[0].threshold: 1.5 is out of range",
        "relevance.anchors[1]: unknown actor id `poland`",
        "topics[0].cues.\"pipeline\": weight 0 is out of range",
        "topics[0].cues.\"  \": is an empty pattern",
        "topics[1].exclude[0]: `'s` does not start with a letter or digit",
        "actors[1].surnames[1]: `` is an empty pattern",
        "actors[1].seats[0]: `Hungarian` is also claimed by actors[0].aliases[1] (`hungary`)",
        "actors[2].id: duplicate id `orban` (also actors[1])",
        "actors[2].name: empty name",
        "actors[2].aliases[0]: `Orban` is also claimed by actors[1].surnames[0] (`orban`)",
        "topic_model.intercept: NaN is not a number",
        "topic_model.weights.length: unknown feature (known: cues, naming,",
        "clauses.asides[1]: `After` repeats clauses.asides[0]",
        "clauses.stances[0]: `-` is an empty pattern",
    ] {
        assert!(
            problems.contains(expected),
            "missing {expected:?} in:\n{problems}"
        );
    }
    assert!(matches!(Tagger::new(&taxonomy), Err(TaxonomyError::Invalid(p)) if p.len() == 14));
}

#[test]
fn parse_errors_name_the_key_path() {
    let typo = SMALL.replace("surnames = [\"Orban\"]", "surname = [\"Orban\"]");
    let err = Taxonomy::from_toml(&typo).unwrap_err().to_string();
    assert!(
        err.contains("actors[1]") && err.contains("surname"),
        "{err}"
    );
    let wrong_type = SMALL.replace("threshold = 0.6", "threshold = \"high\"");
    let err = Taxonomy::from_toml(&wrong_type).unwrap_err().to_string();
    assert!(err.contains("topics[0].threshold"), "{err}");
    let syntax = Taxonomy::from_toml("[relevance\nthreshold = 1").unwrap_err();
    assert!(matches!(syntax, TaxonomyError::Parse { .. }));
}

#[test]
fn hostile_text_does_not_panic() {
    let t = tagger();
    let long_word = "Zelensky".repeat(100_000);
    let inputs = [
        String::new(),
        "\u{0}\u{FEFF}\u{200B}\u{00AD}".to_string(),
        "...!!!???\n\n\n".to_string(),
        "ﬁ ﬂ ǅ İ ẞ \u{0301}\u{0301} Putin\u{0301}".to_string(),
        long_word,
        "U.S. U.S U. S. us US- -US".to_string(),
        "Kyiv".to_string(),
        "Turkey Thanksgiving talks in Ukraine. ".repeat(20_000),
        "talks truce Ukraine Russia ".repeat(20_000),
    ];
    for text in &inputs {
        let tags = t.tag(text, text);
        assert!((0.0..=1.0).contains(&tags.relevance));
    }
}

#[test]
fn tagger_is_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Tagger>();
}

#[test]
fn a_stem_matches_every_inflected_form_and_nothing_shorter() {
    let stems = SMALL
        .replace(
            "aliases = [\"Hungary\", \"Hungarian\"]",
            "aliases = [\"Hungary\", \"Hungarian\", \"Венгри*\", \"Угорщин*\"]",
        )
        .replace("\"gas deliveries\" = 1.0", "\"газопровод*\" = 1.0");
    let taxonomy = Taxonomy::from_toml(&stems).unwrap();
    assert!(taxonomy.problems("stems.toml").is_empty());
    let t = Tagger::new(&taxonomy).unwrap();
    let tags = t.tag(
        "Венгрия против",
        "Власти Венгрии настаивают на газопроводе. Угорщина погодилася. \
         Газопроводом займутся позже.",
    );
    let (n, spellings) = one(&tags, "hungary").unwrap();
    assert_eq!(n, 3, "{spellings:?}");
    assert_eq!(topic_ids(&tags), BTreeSet::from(["energy_supply".into()]));
    // The stem must start the word: "невенгр" is not "Венгри*".
    let inside = t.tag("", "Сверхвенгрия и газ.");
    assert!(inside.actors.is_empty(), "{:?}", inside.actors);

    let bad = SMALL.replace(
        "\"gas deliveries\" = 1.0",
        "\"га*\" = 1.0\n\"газ*опровод\" = 1.0\n\"*газ\" = 1.0",
    );
    let problems: Vec<String> = Taxonomy::from_toml(&bad)
        .unwrap()
        .problems("bad.toml")
        .iter()
        .map(ToString::to_string)
        .collect();
    let problems = problems.join("\n");
    for expected in [
        "cues.\"га*\": is a stem shorter than 3 letters",
        "cues.\"газ*опровод\": has `*` before its end",
        "cues.\"*газ\": does not start with a letter or digit",
    ] {
        assert!(
            problems.contains(expected),
            "missing {expected:?} in:\n{problems}"
        );
    }
}
