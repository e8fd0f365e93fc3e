//! Values from outside the config file: `${VAR}` and `${VAR:-default}` from
//! the environment in any string value, and `X_file` keys that read the
//! value of `X` from a file (a password that systemd, Docker or Kubernetes
//! hands over as a file), as Vector and Miniflux do.
//!
//! Both happen on the parsed document, before any section is read: a value
//! from the environment replaces the string it was written in and is never
//! parsed as TOML, so quotes, newlines or `]` in it cannot add keys or
//! tables. Line numbers stay those of the file, since nothing is parsed
//! again.
//!
//! The rules, for the README:
//! - `${NAME}` is the variable's value; an unset one is a problem that
//!   `tidings check` reports with the key and line (a set but empty one is
//!   the empty string, as in a shell).
//! - `${NAME:-default}` is the default when the variable is unset or empty.
//! - `$$` is a literal `$` (so `$${NAME}` is the text `${NAME}`); any other
//!   `$` is left as written.
//! - A key `X_file` reads the file it names (relative to the config's
//!   folder; `${...}` works in the path) and stands for the key `X` with the
//!   file's content, less one trailing newline, as its value. Giving both is
//!   a problem. The content is taken as it is: no `${...}` in it.
//!
//! Values that came from the environment or a file never show in a problem:
//! [`Report`] writes the reference (`${NAME}`) or `***` in their place.

use std::borrow::Cow;
use std::ffi::OsString;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::Report;

/// Looks a variable up: the process environment, or a map in tests.
pub type Lookup<'e> = &'e dyn Fn(&str) -> Option<OsString>;

/// The suffix of a key whose value names a file holding the value.
pub(super) const FILE_SUFFIX: &str = "_file";

/// Expands every string value of `table` (the whole document) in place and
/// replaces each `X_file` key with `X`, reporting what cannot be done.
pub fn expand(table: &mut DeTable<'_>, report: &Report<'_>, base: &Path, env: Lookup<'_>) {
    let cx = Context { report, base, env };
    cx.table(table, "");
}

struct Context<'r, 'e> {
    report: &'r Report<'r>,
    base: &'e Path,
    env: Lookup<'e>,
}

impl Context<'_, '_> {
    fn table(&self, table: &mut DeTable<'_>, path: &str) {
        for (key, value) in table.iter_mut() {
            let line = self.report.line(key.span().start);
            self.value(value, &join(path, key.get_ref()), line);
        }
        self.files(table, path);
    }

    fn value(&self, value: &mut Spanned<DeValue<'_>>, path: &str, line: usize) {
        match value.get_mut() {
            DeValue::String(s) => {
                if let Some(expanded) = self.string(s, path, line) {
                    *s = Cow::Owned(expanded);
                }
            }
            DeValue::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let line = self.report.line(item.span().start);
                    self.value(item, &format!("{path}[{i}]"), line);
                }
            }
            DeValue::Table(t) => self.table(t, path),
            DeValue::Integer(_)
            | DeValue::Float(_)
            | DeValue::Boolean(_)
            | DeValue::Datetime(_) => {}
        }
    }

    /// The string with its references expanded; `None` when it has none.
    fn string(&self, s: &str, path: &str, line: usize) -> Option<String> {
        if !s.contains('$') {
            return None;
        }
        let expanded = interpolate(s, self.env);
        for (name, value) in &expanded.used {
            self.report.hide(value, &format!("${{{name}}}"));
        }
        for problem in &expanded.problems {
            self.report.push(path, Some(line), problem.clone());
        }
        Some(expanded.text)
    }

    /// Replaces each `X_file` of `table` by `X` holding the file's content.
    fn files(&self, table: &mut DeTable<'_>, path: &str) {
        let names: Vec<String> = table
            .keys()
            .filter_map(|k| k.get_ref().strip_suffix(FILE_SUFFIX))
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect();
        for name in names {
            let file_key = format!("{name}{FILE_SUFFIX}");
            let Some((key, value)) = table.remove_entry(file_key.as_str()) else {
                continue;
            };
            let key_path = join(path, &file_key);
            let line = Some(self.report.line(key.span().start));
            if table.contains_key(name.as_str()) {
                self.report.push(
                    key_path,
                    line,
                    format!("give `{name}` or `{file_key}`, not both"),
                );
                continue;
            }
            let DeValue::String(file) = value.get_ref() else {
                self.report.push(
                    key_path,
                    line,
                    format!(
                        "invalid type: expected a string (the path of a file holding `{name}`), \
                         found {}",
                        super::a(value.get_ref().type_str())
                    ),
                );
                continue;
            };
            let file = self.base.join(file.as_ref());
            let content = match std::fs::read_to_string(&file) {
                Ok(content) => content,
                Err(e) => {
                    self.report.push(
                        key_path,
                        line,
                        format!("cannot read {}: {e}", file.display()),
                    );
                    continue;
                }
            };
            let content = strip_newline(&content).to_string();
            self.report.hide(&content, crate::redact::MASK);
            self.report.came_from_file(join(path, &name));
            let span = key.span();
            table.insert(
                Spanned::new(span, Cow::Owned(name)),
                Spanned::new(value.span(), DeValue::String(Cow::Owned(content))),
            );
        }
    }
}

/// `a.b` for key `b` in table `a`; `b` at the top.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A file's content less one trailing newline, which editors and `echo`
/// add and which is never part of a password.
fn strip_newline(s: &str) -> &str {
    s.strip_suffix("\r\n")
        .or_else(|| s.strip_suffix('\n'))
        .unwrap_or(s)
}

/// A string with its references expanded.
#[derive(Debug, PartialEq, Eq)]
struct Expanded {
    text: String,
    /// The variables whose values went in, with those values.
    used: Vec<(String, String)>,
    problems: Vec<String>,
}

/// Expands `${NAME}`, `${NAME:-default}` and `$$` in `s`. A reference that
/// cannot be expanded is reported and left as written.
fn interpolate(s: &str, env: Lookup<'_>) -> Expanded {
    let mut out = Expanded {
        text: String::with_capacity(s.len()),
        used: Vec::new(),
        problems: Vec::new(),
    };
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.text.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.text.push('$');
            rest = after;
            continue;
        }
        let Some(inner) = rest.strip_prefix("${") else {
            out.text.push('$');
            rest = &rest[1..];
            continue;
        };
        let Some(end) = inner.find('}') else {
            out.problems
                .push("`${` without its closing `}` (write `$$` for a literal `$`)".to_string());
            out.text.push_str(rest);
            rest = "";
            break;
        };
        let reference = &rest[..end + 3];
        rest = &inner[end + 1..];
        let (name, default) = match inner[..end].split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (&inner[..end], None),
        };
        if !is_name(name) {
            out.problems.push(format!(
                "`{reference}` is not a reference to a variable: write `${{NAME}}` or \
                 `${{NAME:-default}}` with a name of letters, digits and `_`, or `$$` for a \
                 literal `$`"
            ));
            out.text.push_str(reference);
            continue;
        }
        let value = match env(name).map(OsString::into_string) {
            Some(Err(_)) => {
                out.problems
                    .push(format!("environment variable {name} is not valid UTF-8"));
                out.text.push_str(reference);
                continue;
            }
            Some(Ok(value)) if !(value.is_empty() && default.is_some()) => value,
            Some(Ok(_)) | None => match default {
                Some(default) => {
                    out.text.push_str(default);
                    continue;
                }
                None => {
                    out.problems.push(format!(
                        "environment variable {name} is not set (set it, or give a default: \
                         `${{{name}:-default}}`)"
                    ));
                    out.text.push_str(reference);
                    continue;
                }
            },
        };
        out.text.push_str(&value);
        out.used.push((name.to_string(), value));
    }
    out.text.push_str(rest);
    out
}

/// A variable name as shells take it: letters, digits and `_`, not starting
/// with a digit.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<OsString> {
        match name {
            "HOST" => Some("db.internal".into()),
            "EMPTY" => Some("".into()),
            "PASSWORD" => Some("s3cr\"et ]\nx = 1".into()),
            _ => None,
        }
    }

    fn text(s: &str) -> String {
        let e = interpolate(s, &env);
        assert!(e.problems.is_empty(), "{s}: {:?}", e.problems);
        e.text
    }

    #[test]
    fn references_take_the_value_or_the_default() {
        assert_eq!(
            text("postgres://${HOST}:5432/x"),
            "postgres://db.internal:5432/x"
        );
        assert_eq!(text("${HOST:-localhost}"), "db.internal");
        assert_eq!(text("${NOPE:-localhost}"), "localhost");
        assert_eq!(text("${EMPTY:-fallback}"), "fallback");
        assert_eq!(text("[${EMPTY}]"), "[]");
        assert_eq!(text("${NOPE:-}"), "");
        assert_eq!(text("${HOST}${HOST}"), "db.internal".repeat(2));
    }

    #[test]
    fn a_value_is_text_not_toml() {
        assert_eq!(text("pw=${PASSWORD}"), "pw=s3cr\"et ]\nx = 1");
    }

    #[test]
    fn two_dollars_are_one_and_a_lone_dollar_stays() {
        assert_eq!(text("$${HOST}"), "${HOST}");
        assert_eq!(text("a$$b"), "a$b");
        assert_eq!(text("pa$word$"), "pa$word$");
        assert_eq!(text("$$$${HOST}"), "$${HOST}");
        assert_eq!(text("$$${HOST}"), "$db.internal");
    }

    #[test]
    fn an_unset_variable_or_a_malformed_reference_is_a_problem() {
        let e = interpolate("x${NOPE}y", &env);
        assert_eq!(e.text, "x${NOPE}y");
        assert_eq!(e.problems.len(), 1);
        assert!(
            e.problems[0].contains("NOPE is not set"),
            "{:?}",
            e.problems
        );

        for bad in ["${}", "${1X}", "${A B}", "${HOST", "${HOST:default}"] {
            let e = interpolate(bad, &env);
            assert_eq!(e.problems.len(), 1, "{bad}: {:?}", e.problems);
            assert_eq!(e.text, bad);
        }
    }

    #[test]
    fn only_values_from_the_environment_count_as_used() {
        let e = interpolate("${HOST}/${NOPE:-d}/${EMPTY}", &env);
        assert_eq!(
            e.used,
            [
                ("HOST".to_string(), "db.internal".to_string()),
                ("EMPTY".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn one_trailing_newline_is_not_part_of_a_file_value() {
        assert_eq!(strip_newline("pw\n"), "pw");
        assert_eq!(strip_newline("pw\r\n"), "pw");
        assert_eq!(strip_newline("pw\n\n"), "pw\n");
        assert_eq!(strip_newline("pw"), "pw");
    }
}
