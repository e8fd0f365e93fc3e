//! What the analysts' documentation promises, checked against the real
//! thing: the tagging ids of `docs/tagging.md`, the JSON Schema of
//! `docs/record.schema.json` and the PostgreSQL queries of `docs/record.md`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tidings::tag::Taxonomy;

use crate::support::servers::{self, Cleanup, pg};
use crate::support::{config, fixture, records, repo, stderr, tidings};

fn doc(name: &str) -> String {
    std::fs::read_to_string(repo(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The first cells of the table rows under the heading `## {heading}`.
fn table_ids(markdown: &str, heading: &str) -> Vec<String> {
    let start = markdown
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading}"));
    let section = &markdown[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| l[..l.find('`').unwrap()].to_string())
        .collect()
}

#[test]
fn the_tagging_doc_lists_exactly_the_ids_of_the_shipped_taxonomy() {
    let markdown = doc("docs/tagging.md");
    let taxonomy = Taxonomy::embedded();
    let topics: Vec<String> = taxonomy.topics.iter().map(|t| t.id.clone()).collect();
    let actors: Vec<String> = taxonomy.actors.iter().map(|a| a.id.clone()).collect();
    assert_eq!(table_ids(&markdown, "Topics"), topics);
    assert_eq!(table_ids(&markdown, "Actors"), actors);
}

/// Every relative link of the docs and the README leads to a file that is
/// there (a link to a `spec/tagging.md` outside the repo once did not).
#[test]
fn every_relative_link_in_the_docs_leads_to_a_file() {
    let mut files: Vec<PathBuf> = vec![repo("README.md")];
    for entry in std::fs::read_dir(repo("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let target = &rest[..rest.find(')').unwrap_or(rest.len())];
            let target = target.split('#').next().unwrap();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if !file.parent().unwrap().join(target).exists() {
                broken.push(format!("{}: {target}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to nowhere: {broken:#?}");
}

fn schema() -> Value {
    serde_json::from_str(&doc("docs/record.schema.json")).expect("the schema is JSON")
}

/// Records of the seeds, a feed of full texts, a feed that declares a
/// language, and a near copy of a seed, run through `backfill`.
fn real_records(dir: &Path, extra: &str) -> PathBuf {
    let cfg = config(dir, extra);
    let out = tidings(
        dir,
        &[
            "backfill",
            "--config",
            cfg.to_str().unwrap(),
            repo("seeds").to_str().unwrap(),
            fixture("feeds/fulltext.rss").to_str().unwrap(),
            fixture("feeds/languages.rss").to_str().unwrap(),
            fixture("docs/wire.rss").to_str().unwrap(),
            fixture("dedup/000_edited.txt").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    dir.join("out.jsonl")
}

#[test]
fn real_records_are_valid_under_the_published_json_schema() {
    let schema = schema();
    jsonschema::meta::validate(&schema).expect("a valid draft 2020-12 schema");
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles");
    let dir = tempfile::tempdir().unwrap();
    let written = records(&real_records(dir.path(), ""));
    assert_eq!(written.len(), 12);
    let mut errors = Vec::new();
    for record in &written {
        for error in validator.iter_errors(record) {
            errors.push(format!(
                "{}: {} at {}",
                record["title"],
                error,
                error.instance_path()
            ));
        }
    }
    assert!(errors.is_empty(), "{errors:#?}");
    // What the schema allows is what records hold: these would pass a
    // schema too loose to say anything.
    assert!(written.iter().any(|r| r["duplicate_of"].is_string()));
    assert!(
        written
            .iter()
            .any(|r| !r["topics"].as_array().unwrap().is_empty())
    );
    assert!(written.iter().any(|r| r["source"]["name"].is_string()));
    assert!(written.iter().any(|r| r["language"] == "ru"));

    let mut wrong = written[0].clone();
    wrong["language"] = "en-US".into();
    assert!(!validator.is_valid(&wrong), "a region in language");
    let mut extra = written[0].clone();
    extra["surprise"] = 1.into();
    assert!(
        !validator.is_valid(&extra),
        "a field the schema does not know"
    );
}

/// A field added to the record without the schema (or the docs' table) is
/// caught here: the schema lists exactly the fields a record serializes,
/// every one required.
#[test]
fn the_schema_and_the_docs_list_exactly_the_fields_of_a_record() {
    let schema = schema();
    let dir = tempfile::tempdir().unwrap();
    let record = records(&real_records(dir.path(), ""))
        .into_iter()
        .next()
        .unwrap();
    let fields: BTreeSet<String> = record.as_object().unwrap().keys().cloned().collect();
    let listed: BTreeSet<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(listed, fields, "schema properties vs a record's fields");
    let required: BTreeSet<String> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(required, fields, "schema required vs a record's fields");
    let markdown = doc("docs/record.md");
    let documented: BTreeSet<String> = markdown
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| l[..l.find('`').unwrap()].to_string())
        .collect();
    assert_eq!(
        documented, fields,
        "docs/record.md's table vs a record's fields"
    );
}

/// The ```sql blocks of a markdown text, as written.
fn sql_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```sql\n")
        .skip(1)
        .map(|block| block[..block.find("```").expect("a closed block")].to_string())
        .collect()
}

/// The example queries of `docs/record.md`, verbatim, against a table made
/// by the postgres sink from real records. The table is `records`, as in
/// the docs, in a schema of the test's own (the connection's search_path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_queries_run_on_the_real_servers_and_answer() {
    let url = servers::postgres_url();
    let schema = servers::unique("tidings_docs");
    let db = pg::client(&url).await;
    db.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let _cleanup = {
        let (url, schema) = (url.clone(), schema.clone());
        Cleanup::new(async move {
            let db = pg::client(&url).await;
            let _ = db
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await;
        })
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let in_schema = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    let dir = tempfile::tempdir().unwrap();
    real_records(
        dir.path(),
        &format!("\n[[sinks]]\nkind = \"postgres\"\nurl = \"{in_schema}\"\n"),
    );
    let (client, conn) = tokio_postgres::connect(&in_schema, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM records", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 12, "the sink wrote into the test's schema");

    let queries = sql_blocks(&doc("docs/record.md"));
    assert!(queries.len() >= 5, "{queries:#?}");
    for query in &queries {
        let answer = client
            .simple_query(query)
            .await
            .unwrap_or_else(|e| panic!("{query}\nfails: {e:?}"));
        let rows = answer
            .iter()
            .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
            .count();
        assert!(rows > 0, "no rows from\n{query}");
    }

    // The views hold one row per tag.
    let (topics, tagged): (i64, i64) = {
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM records_topics),
                        (SELECT coalesce(sum(jsonb_array_length(topics)), 0) FROM records)",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(topics, tagged);
    assert!(topics > 0);
}
