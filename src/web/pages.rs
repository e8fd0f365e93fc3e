//! The HTML pages: overview, feeds, news, one record, trends. Rendered with
//! maud, which escapes every value it is given.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{Duration, Utc};
use maud::{DOCTYPE, Markup, html};

use super::App;
use super::api::{Listed, RecordQuery, Stats, failed, feed_rows, gather, listed};
use super::chart;
use crate::fetch::health::FeedRow;
use crate::record::Record;
use crate::state::FeedStatus;

/// The frame of every page; `here` is the nav entry to mark.
fn page(title: &str, here: &str, body: Markup) -> Html<String> {
    Html(frame(title, here, body).into_string())
}

fn frame(title: &str, here: &str, body: Markup) -> Markup {
    let nav = [
        ("/", "Overview"),
        ("/feeds", "Feeds"),
        ("/news", "News"),
        ("/trends", "Trends"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tidings" }
                link rel="stylesheet" href="/static/app.css";
                link rel="icon" href="/static/icon.svg" type="image/svg+xml";
                script src="/static/app.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "tidings" }
                    nav {
                        @for (href, name) in nav {
                            a href=(href) class=[(name == here).then_some("here")] { (name) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn card(n: impl std::fmt::Display, label: &str) -> Markup {
    html! { div.card { div.n { (n) } div.label { (label) } } }
}

pub async fn overview(State(app): State<App>) -> Response {
    match gather(&app).await {
        Ok(stats) => page("Overview", "Overview", overview_body(&stats)).into_response(),
        Err(e) => failed(e),
    }
}

/// The last 48 hours, one slot per hour, empty hours included.
fn hours(stats: &Stats) -> Vec<(String, u64, u64)> {
    let by_hour: BTreeMap<&str, (u64, u64)> = stats
        .hourly
        .iter()
        .map(|h| (h.hour.as_str(), (h.relevant, h.other)))
        .collect();
    let now = Utc::now();
    (0..48)
        .rev()
        .map(|back| {
            let hour = (now - Duration::hours(back))
                .format("%Y-%m-%dT%H")
                .to_string();
            let (r, o) = by_hour.get(hour.as_str()).copied().unwrap_or((0, 0));
            (hour, r, o)
        })
        .collect()
}

fn overview_body(stats: &Stats) -> Markup {
    html! {
        h1 { "Overview" }
        section.cards {
            (card(format!("{:.1}", stats.per_minute), "records per minute (last hour)"))
            (card(stats.last_hour, "records in the last hour"))
            (card(stats.read, "documents read since start"))
            (card(stats.written, "records written since start"))
            (card(stats.already_present, "already present"))
            (card(stats.dead_lettered, "dead letters"))
        }
        h2 { "Records per hour, last 48 hours" }
        p.muted { "Relevant in blue, the others in grey." }
        (chart::bars(&hours(stats), 960, 140))
        h2 { "Sinks and state" }
        table {
            thead { tr { th { "component" } th { "state" } th { "since" } th { "reason" } } }
            tbody {
                @for c in &stats.components {
                    tr {
                        td { (c.name) }
                        td {
                            @if c.ok { span.status.status-ok { "ok" } }
                            @else { span.status.status-failing { "failing" } }
                        }
                        td { (c.since.as_deref().unwrap_or("")) }
                        td { (c.reason.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
        h2 { "Queues between stages" }
        table {
            thead { tr { th { "queue" } th.num { "waiting" } } }
            tbody { @for (q, n) in &stats.queues { tr { td { (q) } td.num { (n) } } } }
        }
        h2 { "Skips by stage and reason" }
        @if stats.skipped.is_empty() { p.muted { "None." } }
        @else {
            table {
                thead { tr { th { "stage: reason" } th.num { "documents" } } }
                tbody { @for (why, n) in &stats.skipped { tr { td { (why) } td.num { (n) } } } }
            }
        }
        h2 { "Warnings and errors, last hour" }
        @if stats.problems.is_empty() { p.muted { "None." } }
        @else {
            table {
                thead { tr { th { "at" } th { "level" } th { "message" } } }
                tbody {
                    @for p in &stats.problems {
                        tr { td { (p.at) } td { (p.level) } td { (p.message) } }
                    }
                }
            }
        }
    }
}

/// Problems first: the order of the feeds table, and its status column's
/// sort key.
fn severity(status: FeedStatus) -> u8 {
    match status {
        FeedStatus::Dead => 0,
        FeedStatus::Failing => 1,
        FeedStatus::Stale => 2,
        FeedStatus::New => 3,
        FeedStatus::Ok => 4,
    }
}

pub async fn feeds(State(app): State<App>) -> Response {
    let mut rows = match feed_rows(&app).await {
        Ok(rows) => rows,
        Err(e) => return failed(e),
    };
    rows.sort_by_key(|r| severity(r.status));
    let any_dead = rows.iter().any(|r| r.status == FeedStatus::Dead);
    let body = html! {
        h1 { "Feeds" }
        section.cards {
            @for status in FeedStatus::ALL {
                (card(rows.iter().filter(|r| r.status == status).count(), status.as_str()))
            }
        }
        div.filters {
            input #filter type="search" size="40" placeholder="filter by name, URL, status or error"
                aria-label="filter the feeds";
            @if any_dead {
                @if app.token.is_some() {
                    // A form, so the browser treats the field as a password;
                    // the script keeps it from ever being submitted.
                    form.token {
                        label { "token " input #token type="password" autocomplete="off"; }
                    }
                    span.muted { "the [web] token, to revive a dead feed" }
                } @else {
                    span.muted { "reviving is off: no [web] token is configured" }
                }
            }
        }
        table #feeds .sortable-table {
            thead {
                tr {
                    th.sortable { "status" }
                    th.sortable { "feed" }
                    th.sortable { "last success" }
                    th.num.sortable { "errors" }
                    th.num.sortable { "items" }
                    th.num.sortable { "records" }
                    th.sortable { "next poll" }
                    th.sortable { "last error" }
                    th { }
                }
            }
            tbody { @for r in &rows { (feed_row(r, app.token.is_some())) } }
        }
        @if rows.is_empty() { p.muted { "No feeds configured." } }
    };
    page("Feeds", "Feeds", body).into_response()
}

fn feed_row(r: &FeedRow, can_revive: bool) -> Markup {
    let status = r.status.as_str();
    html! {
        tr data-status=(status) {
            td data-sort=(severity(r.status)) {
                span class={ "status status-" (status) } { (status) }
                @if !r.enabled { " " span.muted { "disabled" } }
            }
            td {
                @if let Some(name) = &r.name { strong { (name) } br; }
                span.muted { (r.url) }
            }
            td { (r.last_success.as_deref().unwrap_or("never")) }
            td.num { (r.errors) }
            td.num { (r.items) }
            td.num { (r.records) }
            td { (r.next_poll.as_deref().unwrap_or("")) }
            td.err { (r.dead.as_deref().or(r.last_error.as_deref()).unwrap_or("")) }
            td {
                @if r.status == FeedStatus::Dead && can_revive {
                    button.revive type="button" data-url=(r.url) { "revive" }
                    " " span.revive-status role="status" {}
                }
            }
        }
    }
}

/// The outlet a record came from: its feed's name, else the page's host.
fn outlet(r: &Record) -> String {
    r.source
        .name
        .clone()
        .or_else(|| {
            let url = url::Url::parse(r.url.as_deref()?).ok()?;
            Some(url.host_str()?.to_string())
        })
        .unwrap_or_else(|| r.source.location.clone())
}

fn when(r: &Record) -> &str {
    r.published_at.as_deref().unwrap_or(&r.fetched_at)
}

fn chips(r: &Record) -> Markup {
    html! {
        @for t in &r.topics {
            a.chip href={ "/news?topic=" (t.id) } title=(t.label) { (t.label) }
        }
        @for a in &r.actors {
            a.chip.actor href={ "/news?actor=" (a.id) } { (a.name) }
        }
    }
}

fn copy_badge(r: &Record, copies: u64) -> Markup {
    html! {
        @if let Some(of) = &r.duplicate_of {
            " "
            span.badge title={ "similarity " (r.similarity.unwrap_or(1.0)) } {
                "copy of " a href={ "/records/" (of) } { (of) }
            }
        }
        @if copies > 0 {
            " "
            span.badge title="copies of this record seen since, dropped or written" {
                (copies) @if copies == 1 { " copy" } @else { " copies" }
            }
        }
    }
}

pub async fn news(State(app): State<App>, Query(q): Query<RecordQuery>) -> Response {
    let filter = q.filter(100, true);
    let records = match app.store.call(move |s| listed(s, &filter)).await {
        Ok(records) => records,
        Err(e) => return failed(e),
    };
    let heading = match (&q.topic, &q.actor) {
        (Some(t), _) => format!("News on {t}"),
        (_, Some(a)) => format!("News naming {a}"),
        _ => "News".to_string(),
    };
    let body = html! {
        h1 { (heading) }
        div.filters {
            a.chip href="/news" { "all" }
            a.chip href="/news?relevant=true" { "relevant only" }
            span.muted { (records.len()) " records, relevant first, newest first" }
        }
        @for Listed { record: r, copies } in &records {
            div.item.irrelevant[!r.relevant] {
                h3 { a href={ "/records/" (r.id) } { (r.title) } (copy_badge(r, *copies)) }
                div.muted {
                    (outlet(r)) " · " (when(r))
                    @if r.relevant { " · relevance " (format!("{:.2}", r.relevance)) }
                }
                div { (chips(r)) }
            }
        }
        @if records.is_empty() { p.muted { "No records in the window yet." } }
    };
    page("News", "News", body).into_response()
}

/// A paragraph cut into (text, is evidence) runs.
fn marked<'t>(paragraph: &'t str, evidence: &BTreeSet<&str>) -> Vec<(&'t str, bool)> {
    let mut runs = Vec::new();
    let mut rest = paragraph;
    while !rest.is_empty() {
        let next = evidence
            .iter()
            .filter(|e| !e.is_empty())
            .filter_map(|e| rest.find(*e).map(|at| (at, e.len())))
            .min();
        match next {
            Some((at, len)) => {
                if at > 0 {
                    runs.push((&rest[..at], false));
                }
                runs.push((&rest[at..at + len], true));
                rest = &rest[at + len..];
            }
            None => {
                runs.push((rest, false));
                break;
            }
        }
    }
    runs
}

pub async fn record(State(app): State<App>, Path(id): Path<String>) -> Response {
    let wanted = id.clone();
    let found = app.store.call(move |s| {
        let record = s.recent_record(&wanted)?;
        let copies = s.copies(std::slice::from_ref(&wanted))?;
        Ok(record.map(|r| (r, copies.get(&wanted).copied().unwrap_or(0))))
    });
    let (record, copies) = match found.await {
        Ok(Some(found)) => found,
        Ok(None) => {
            let body = html! { h1 { "Not found" } p { "No record " (id) " in the window." } };
            return (StatusCode::NOT_FOUND, page("Not found", "News", body)).into_response();
        }
        Err(e) => return failed(e),
    };
    let evidence: BTreeSet<&str> = record
        .topics
        .iter()
        .flat_map(|t| t.evidence.iter().map(String::as_str))
        .collect();
    let body = html! {
        // The badge beside the heading, not in it: the heading is the
        // record's title, as a reader (or a screen reader) takes it.
        h1 { (record.title) }
        (copy_badge(&record, copies))
        p.muted {
            (outlet(&record)) " · " (when(&record))
            @if let Some(url) = &record.url {
                " · " a href=(url) rel="noopener noreferrer nofollow" { "original" }
            }
            " · " @if record.relevant { "relevant " } @else { "not relevant " }
            (format!("{:.2}", record.relevance))
        }
        div { (chips(&record)) }
        @if !record.topics.is_empty() {
            h2 { "Topics and their evidence" }
            ul {
                @for t in &record.topics {
                    li {
                        strong { (t.label) } " " span.muted { (format!("{:.2}", t.score)) }
                        ul { @for e in &t.evidence { li { mark { (e) } } } }
                    }
                }
            }
        }
        h2 { "Text" }
        article.text {
            @for paragraph in record.text.split("\n\n") {
                p {
                    @for (run, hit) in marked(paragraph, &evidence) {
                        @if hit { mark { (run) } } @else { (run) }
                    }
                }
            }
        }
    };
    page(&record.title, "News", body).into_response()
}

pub async fn trends(State(app): State<App>) -> Response {
    let since = Utc::now() - Duration::days(14);
    let found = app
        .store
        .call(move |s| Ok((s.topics_per_day(since)?, s.actor_pairs(since, 25)?)))
        .await;
    let (topics, pairs) = match found {
        Ok(found) => found,
        Err(e) => return failed(e),
    };
    let days: BTreeSet<&str> = topics.iter().map(|(d, _, _)| d.as_str()).collect();
    let mut by_topic: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for (day, topic, n) in &topics {
        by_topic
            .entry(topic.as_str())
            .or_default()
            .insert(day.as_str(), *n);
    }
    let body = html! {
        h1 { "Trends, last 14 days" }
        h2 { "Records per day by topic" }
        @if by_topic.is_empty() { p.muted { "No tagged records in the window yet." } }
        @else {
            table.sortable-table {
                thead {
                    tr {
                        th.sortable { "topic" }
                        @for d in &days { th.num.sortable { (&d[5..]) } }
                        th.num.sortable { "total" }
                    }
                }
                tbody {
                    @for (topic, counts) in &by_topic {
                        tr {
                            td { a href={ "/news?topic=" (topic) } { (topic) } }
                            @for d in &days { td.num { (counts.get(d).copied().unwrap_or(0)) } }
                            td.num { (counts.values().sum::<u64>()) }
                        }
                    }
                }
            }
        }
        h2 { "Actors most often named together" }
        @if pairs.is_empty() { p.muted { "No pairs yet." } }
        @else {
            table {
                thead { tr { th { "actor" } th { "with" } th.num { "records" } } }
                tbody {
                    @for (a, b, n) in &pairs {
                        tr {
                            td { a href={ "/news?actor=" (a) } { (a) } }
                            td { a href={ "/news?actor=" (b) } { (b) } }
                            td.num { (n) }
                        }
                    }
                }
            }
        }
    };
    page("Trends", "Trends", body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_is_marked_where_it_stands() {
        let evidence = BTreeSet::from(["a ceasefire", "talks"]);
        assert_eq!(
            marked("They agreed a ceasefire after talks ended.", &evidence),
            [
                ("They agreed ", false),
                ("a ceasefire", true),
                (" after ", false),
                ("talks", true),
                (" ended.", false)
            ]
        );
        assert_eq!(
            marked("Nothing here.", &evidence),
            [("Nothing here.", false)]
        );
    }

    #[test]
    fn a_hostile_title_is_text() {
        let markup = frame(
            "<img src=x onerror=alert(1)>",
            "News",
            html! { h1 { ("<script>alert(2)</script>") } },
        )
        .into_string();
        assert!(!markup.contains("<img src=x"), "{markup}");
        assert!(!markup.contains("<script>alert"), "{markup}");
        assert!(markup.contains("&lt;script&gt;alert(2)&lt;/script&gt;"));
    }
}
