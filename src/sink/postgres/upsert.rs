//! The batch upsert: each column of the batch travels as one array of values
//! in text form, and one prepared statement unnests the arrays, casts each
//! value to its column's type and upserts the rows.
//!
//! Why arrays of text: the server reads each value with its type's own input
//! function (a bad timestamp is refused as a cast from text always was),
//! nothing is taken apart from one big JSON document on the server, the
//! statement is prepared once whatever the batch size, and a batch is one
//! round trip and one transaction, with no staging table to keep per
//! connection (an upsert through COPY needs one). What costs most on the
//! server is then the record's own work: parsing the `record` jsonb,
//! compressing the long values (see [`prepare`]), the indexes and the commit.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Statement};

use super::{COLUMNS, quoted};
use crate::record::Record;

/// A column's value for one record, in the text form its type's input
/// function reads; `None` is SQL NULL.
pub(super) type Value<'a> = Result<Option<Cow<'a, str>>, serde_json::Error>;

/// PostgreSQL text and jsonb cannot hold U+0000, which a hostile page may
/// smuggle into a record; in this sink it becomes U+FFFD rather than failing
/// the batch forever.
pub(super) fn text(s: &str) -> Value<'_> {
    Ok(Some(if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }))
}

pub(super) fn opt_text(s: Option<&str>) -> Value<'_> {
    s.map_or(Ok(None), text)
}

/// A number, a boolean or a unit enum (or an `Option` of one) as its JSON
/// scalar reads in text: what `->>` gave when rows were taken from JSON. A
/// float that JSON cannot hold (NaN, infinite) is NULL, as in the record.
pub(super) fn scalar(value: &impl Serialize) -> Value<'static> {
    use serde_json::Value as Json;
    Ok(match serde_json::to_value(value)? {
        Json::Null => None,
        Json::String(s) if s.contains('\0') => Some(Cow::Owned(s.replace('\0', "\u{FFFD}"))),
        Json::String(s) => Some(Cow::Owned(s)),
        other => Some(Cow::Owned(other.to_string())),
    })
}

/// The value as JSON, for a jsonb column.
pub(super) fn json(value: &impl Serialize) -> Value<'static> {
    let json = serde_json::to_string(value)?;
    // serde_json writes U+0000 only as this escape; a literal backslash
    // followed by "u0000" in a text also matches, and is left intact below.
    if !json.contains("\\u0000") {
        return Ok(Some(Cow::Owned(json)));
    }
    let mut value = serde_json::to_value(value)?;
    replace_nul(&mut value);
    Ok(Some(Cow::Owned(serde_json::to_string(&value)?)))
}

fn replace_nul(value: &mut serde_json::Value) {
    use serde_json::Value as Json;
    match value {
        Json::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Json::Array(items) => items.iter_mut().for_each(replace_nul),
        Json::Object(map) => map.values_mut().for_each(replace_nul),
        _ => {}
    }
}

/// The statement, with one `text[]` parameter per column of [`COLUMNS`].
/// Rows whose stored record is identical are not rewritten, so a replay
/// changes nothing.
pub(super) fn sql(table: &str) -> String {
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    let arrays: Vec<String> = (1..=COLUMNS.len())
        .map(|n| format!("${n}::text[]"))
        .collect();
    let casts: Vec<String> = COLUMNS
        .iter()
        .map(|c| format!("batch.{}::{}", c.name, c.sql_type))
        .collect();
    let updates: Vec<String> = COLUMNS
        .iter()
        .filter(|c| c.name != "id")
        .map(|c| format!("{0} = EXCLUDED.{0}", c.name))
        .collect();
    format!(
        "INSERT INTO {t} AS cur ({names})
         SELECT {casts}
         FROM unnest({arrays}) AS batch({names})
         ON CONFLICT (id) DO UPDATE SET {updates}, written_at = now()
         WHERE cur.record IS DISTINCT FROM EXCLUDED.record",
        t = quoted(table),
        names = names.join(", "),
        casts = casts.join(", "),
        arrays = arrays.join(", "),
        updates = updates.join(", "),
    )
}

/// Readies a new connection for [`Rows::upsert`]: prepares [`sql`], and has
/// the long values (the text, the record) compressed with lz4 where the
/// server has it. lz4 compresses them several times faster than PostgreSQL's
/// default pglz (in the sinks bench, batches of 64 go about 1.5 times as
/// fast); it applies only to columns whose compression was not set on
/// purpose (`ALTER TABLE .. SET COMPRESSION`), and any server built with lz4
/// reads it.
pub(super) async fn prepare(
    client: &Client,
    table: &str,
) -> Result<Statement, tokio_postgres::Error> {
    client
        .batch_execute(
            "SELECT set_config('default_toast_compression', 'lz4', false) FROM pg_settings
             WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)",
        )
        .await?;
    client
        .prepare_typed(&sql(table), &vec![Type::TEXT_ARRAY; COLUMNS.len()])
        .await
}

/// A batch encoded for [`sql`]: per column, the values of its records.
pub(super) struct Rows<'a> {
    columns: Vec<Vec<Option<Cow<'a, str>>>>,
}

impl<'a> Rows<'a> {
    /// If an id occurs twice in a batch the later record wins, as it would
    /// in two batches (`ON CONFLICT` refuses to touch a row twice in one
    /// statement); the earlier one is not sent.
    pub(super) fn new(batch: &[&'a Record]) -> Result<Rows<'a>, serde_json::Error> {
        let last: HashMap<&str, usize> = batch
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        let kept: Vec<&'a Record> = batch
            .iter()
            .enumerate()
            .filter(|(i, r)| last[r.id.as_str()] == *i)
            .map(|(_, r)| *r)
            .collect();
        let columns = COLUMNS
            .iter()
            .map(|c| kept.iter().map(|r| (c.value)(r)).collect())
            .collect::<Result<_, _>>()?;
        Ok(Rows { columns })
    }

    /// Upserts the rows in one statement, so in one transaction.
    pub(super) async fn upsert(
        &self,
        client: &Client,
        statement: &Statement,
    ) -> Result<u64, tokio_postgres::Error> {
        let params: Vec<&(dyn ToSql + Sync)> = self
            .columns
            .iter()
            .map(|values| values as &(dyn ToSql + Sync))
            .collect();
        client.execute(statement, &params).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_replaced_and_escaped_backslashes_kept() {
        let value = serde_json::json!({"title": "a\u{0}b", "text": "c\\u0000d", "n": [1, "\u{0}"]});
        assert_eq!(
            json(&value).unwrap().unwrap(),
            serde_json::json!({"title": "a\u{FFFD}b", "text": "c\\u0000d", "n": [1, "\u{FFFD}"]})
                .to_string()
        );
        assert_eq!(text("x\u{0}y").unwrap().unwrap(), "x\u{FFFD}y");
        assert_eq!(scalar(&"x\u{0}").unwrap().unwrap(), "x\u{FFFD}");
    }

    #[test]
    fn scalars_read_as_their_json_does() {
        assert_eq!(scalar(&0.7_f64).unwrap().unwrap(), "0.7");
        assert_eq!(scalar(&true).unwrap().unwrap(), "true");
        assert_eq!(scalar(&Some(3_u32)).unwrap().unwrap(), "3");
        assert_eq!(
            scalar(&crate::record::OriginKind::Feed).unwrap().unwrap(),
            "feed"
        );
        assert_eq!(scalar(&None::<f64>).unwrap(), None);
        assert_eq!(scalar(&f64::NAN).unwrap(), None);
    }
}
