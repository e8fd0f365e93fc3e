//! Reading settings: a typed reader over one table of the config that
//! reports problems and goes on, and the one [`Problem`] type that config,
//! sinks and the taxonomy report with.
//!
//! serde with `deny_unknown_fields` stops at the first unknown key or wrong
//! type; a user fixing a config then needs one run per mistake. A [`Section`]
//! instead notes each problem in the shared [`Report`] with the key's path and
//! line, hands back the default, and carries on, so one pass finds them all.
//! Each getter also records its key as known, and [`Section::finish`] reports
//! every key nobody asked for. A component reads its own section with it (the
//! `[[sinks]]` entry of a sink, say) without a serde struct per section.
//!
//! Before any section is read, [`environment::expand`] fills in values from
//! the environment and from `X_file` keys.

pub mod environment;

use std::cell::RefCell;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One problem found in a config or taxonomy, with the file and the key it
/// concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub key: String,
    pub message: String,
    /// The 1-based line of the key (or of its table, for a missing key).
    pub line: Option<usize>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// The folders a config's relative paths resolve against. What tidings
/// reads (a taxonomy, a seed corpus, a token file) lies beside the config;
/// what it writes (the state store, a JSONL file) goes under the data
/// folder, which is the config's folder too unless the service manager gave
/// tidings a state directory: a config in a read-only `/etc/tidings` then
/// still works with `dir = "data"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub config: PathBuf,
    pub data: PathBuf,
}

impl Dirs {
    /// Reads and writes both beside the config.
    pub fn beside(config: &Path) -> Dirs {
        Dirs {
            config: config.to_path_buf(),
            data: config.to_path_buf(),
        }
    }

    /// A path tidings reads.
    pub fn input(&self, path: &str) -> PathBuf {
        self.config.join(path)
    }

    /// A path tidings writes.
    pub fn output(&self, path: &str) -> PathBuf {
        self.data.join(path)
    }
}

/// The problems found in one config text, with the text to turn byte offsets
/// into line numbers.
pub struct Report<'a> {
    file: &'a str,
    text: &'a str,
    problems: RefCell<Vec<Problem>>,
    /// Values from the environment or a file, with what a problem shows in
    /// their place.
    hidden: RefCell<Vec<(String, String)>>,
    /// Key paths whose value came from an `X_file` key.
    from_file: RefCell<Vec<String>>,
}

/// Values shorter than this are not hidden in problems: a port or a flag
/// from the environment is no secret, and hiding each `1` or `on` in every
/// message would garble the messages.
const MIN_HIDDEN_LEN: usize = 4;

impl<'a> Report<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Report<'a> {
        Report {
            file,
            text,
            problems: RefCell::new(Vec::new()),
            hidden: RefCell::new(Vec::new()),
            from_file: RefCell::new(Vec::new()),
        }
    }

    /// From now on, `value` shows as `shown` in every problem: it came from
    /// the environment or a file and may be a secret.
    pub fn hide(&self, value: &str, shown: &str) {
        if value.chars().count() < MIN_HIDDEN_LEN {
            return;
        }
        let mut hidden = self.hidden.borrow_mut();
        // As written and as `{:?}` quotes it (a message quoting a value with
        // a `"` or `\` in it escapes them).
        let quoted = format!("{value:?}");
        let escaped = &quoted[1..quoted.len() - 1];
        for form in [value, escaped] {
            if !hidden.iter().any(|(v, _)| v == form) {
                hidden.push((form.to_string(), shown.to_string()));
            }
        }
        // Longest first, so a value that contains another is hidden whole.
        hidden.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    }

    /// The value at `key` was read from the file of `key` + `_file`:
    /// problems with it name that key, the one the user wrote.
    pub fn came_from_file(&self, key: String) {
        self.from_file.borrow_mut().push(key);
    }

    /// The 1-based line of a byte offset: the newlines before it, plus one, so
    /// an offset at the very start of a line counts that line.
    pub fn line(&self, offset: usize) -> usize {
        let before = &self.text.as_bytes()[..offset.min(self.text.len())];
        before.iter().filter(|&&b| b == b'\n').count() + 1
    }

    pub fn push(&self, key: impl Into<String>, line: Option<usize>, message: impl Into<String>) {
        let mut key = key.into();
        if self.from_file.borrow().contains(&key) {
            key.push_str(environment::FILE_SUFFIX);
        }
        let mut message = message.into();
        for (value, shown) in self.hidden.borrow().iter() {
            if message.contains(value.as_str()) {
                message = message.replace(value.as_str(), shown);
            }
        }
        self.problems.borrow_mut().push(Problem {
            file: self.file.to_string(),
            key,
            // A value quoted back (a URL under the wrong key, say) must not
            // show its secrets either.
            message: crate::redact::text(&message),
            line,
        });
    }

    /// The document's top-level table.
    pub fn root(&'a self, table: &'a DeTable<'a>) -> Section<'a> {
        Section {
            report: self,
            path: String::new(),
            table: Some(table),
            line: None,
            known: Vec::new(),
            missing: Vec::new(),
            skip_unread: false,
        }
    }

    /// A problem of another file the config names (a feed list), with its
    /// own line numbers.
    pub fn push_in(&self, file: &str, line: Option<usize>, message: impl Into<String>) {
        self.problems.borrow_mut().push(Problem {
            file: file.to_string(),
            key: String::new(),
            message: crate::redact::text(&message.into()),
            line,
        });
    }

    /// Every problem, the config's own first, each file's in the order of
    /// its lines (a stable sort, so problems of one line keep the order they
    /// were found in).
    pub fn into_problems(self) -> Vec<Problem> {
        let mut problems = self.problems.into_inner();
        problems.sort_by_key(|p| (p.file != self.file, p.line.unwrap_or(usize::MAX)));
        problems
    }
}

/// One table of the config (`[http]`, the entry `sinks[1]`, ...); an absent
/// table reads as empty, so every getter returns its default.
pub struct Section<'a> {
    report: &'a Report<'a>,
    /// The key path of the table: `""` for the document, `http`, `sinks[1]`.
    path: String,
    table: Option<&'a DeTable<'a>>,
    /// Where the table starts (its header), for problems of keys it lacks.
    line: Option<usize>,
    /// The keys asked for, in the order asked: whatever else is there is unknown.
    known: Vec<&'static str>,
    /// Required keys found missing; reported by `finish`, unless a misspelling
    /// of the key is there, which is then the one problem to fix.
    missing: Vec<&'static str>,
    /// Set when the table could not be read through: its keys are not judged.
    skip_unread: bool,
}

type Value<'a> = Spanned<DeValue<'a>>;

impl<'a> Section<'a> {
    /// The full key path of `name` in this table (`sinks[1].path`); `""` names
    /// the table itself.
    pub fn key(&self, name: &str) -> String {
        match (self.path.is_empty(), name.is_empty()) {
            (_, true) => self.path.clone(),
            (true, false) => name.to_string(),
            (false, false) => format!("{}.{name}", self.path),
        }
    }

    /// The line of `name`, else of the table itself.
    pub fn line_of(&self, name: &str) -> Option<usize> {
        self.table
            .and_then(|t| t.get_key_value(name))
            .map(|(k, _)| self.report.line(k.span().start))
            .or(self.line)
    }

    /// Reports a problem with the value of `name` (`""`: the whole table).
    pub fn problem(&self, name: &str, message: impl Into<String>) {
        self.report
            .push(self.key(name), self.line_of(name), message.into());
    }

    /// The value of `name`, which becomes a known key whether present or not.
    fn get(&mut self, name: &'static str) -> Option<&'a Value<'a>> {
        if !self.known.contains(&name) {
            self.known.push(name);
        }
        self.table?.get(name)
    }

    fn wrong_type(&self, key: String, value: &Value<'_>, expected: &str) {
        self.report.push(
            key,
            Some(self.report.line(value.span().start)),
            format!(
                "invalid type: expected {expected}, found {}",
                a(value.get_ref().type_str())
            ),
        );
    }

    /// A string, or `None` when absent or not a string (reported).
    pub fn str(&mut self, name: &'static str) -> Option<&'a str> {
        let value = self.get(name)?;
        match value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.wrong_type(self.key(name), value, "a string");
                None
            }
        }
    }

    /// A string that must be there; its absence is reported (by `finish`).
    pub fn required_str(&mut self, name: &'static str) -> Option<&'a str> {
        if self.get(name).is_none() && !self.missing.contains(&name) {
            self.missing.push(name);
        }
        self.str(name)
    }

    /// A boolean; `default` when absent or not a boolean (reported).
    pub fn bool(&mut self, name: &'static str, default: bool) -> bool {
        let Some(value) = self.get(name) else {
            return default;
        };
        match value.get_ref() {
            DeValue::Boolean(b) => *b,
            _ => {
                self.wrong_type(self.key(name), value, "a boolean");
                default
            }
        }
    }

    /// The report this table's problems go to.
    pub fn report(&self) -> &'a Report<'a> {
        self.report
    }

    /// One of `options`; the first one when absent or not one of them (reported).
    pub fn choice(&mut self, name: &'static str, options: &[&'static str]) -> &'static str {
        let default = options.first().copied().unwrap_or_default();
        let Some(given) = self.str(name) else {
            return default;
        };
        match options.iter().find(|&&o| o == given) {
            Some(o) => o,
            None => {
                let expected: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
                self.problem(
                    name,
                    format!(
                        "unknown value {given:?}, expected {}",
                        expected.join(" or ")
                    ),
                );
                default
            }
        }
    }

    /// A whole number within `range`, or `None` when absent, not an integer
    /// or out of range (the last two reported).
    pub fn opt_int(&mut self, name: &'static str, range: RangeInclusive<u64>) -> Option<u64> {
        let value = self.get(name)?;
        let DeValue::Integer(i) = value.get_ref() else {
            self.wrong_type(self.key(name), value, "an integer");
            return None;
        };
        // i128 holds every TOML integer, so a negative or huge one is reported
        // as out of range rather than as unreadable.
        match i128::from_str_radix(i.as_str(), i.radix()) {
            Ok(v) if (*range.start() as i128..=*range.end() as i128).contains(&v) => {
                u64::try_from(v).ok()
            }
            _ => {
                self.problem(
                    name,
                    format!("{i} is out of range {}..={}", range.start(), range.end()),
                );
                None
            }
        }
    }

    /// A whole number within `range`; `default` when absent or wrong (reported).
    pub fn int(&mut self, name: &'static str, default: u64, range: RangeInclusive<u64>) -> u64 {
        self.opt_int(name, range).unwrap_or(default)
    }

    /// A number (integer or float) within `range`; `default` when absent or
    /// wrong (reported).
    pub fn float(&mut self, name: &'static str, default: f64, range: RangeInclusive<f64>) -> f64 {
        let Some(value) = self.get(name) else {
            return default;
        };
        let number = match value.get_ref() {
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|v| v as f64),
            _ => {
                self.wrong_type(self.key(name), value, "a number");
                return default;
            }
        };
        match number {
            Some(v) if range.contains(&v) => v,
            _ => {
                let given = match value.get_ref() {
                    DeValue::Float(f) => f.to_string(),
                    DeValue::Integer(i) => i.to_string(),
                    _ => String::new(),
                };
                self.problem(
                    name,
                    format!(
                        "{given} is out of range {}..={}",
                        range.start(),
                        range.end()
                    ),
                );
                default
            }
        }
    }

    /// An array of strings; empty when absent. Elements that are no string are
    /// reported one by one and left out.
    pub fn strings(&mut self, name: &'static str) -> Vec<&'a str> {
        let Some(value) = self.get(name) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(self.key(name), value, "an array of strings");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::String(s) => out.push(s.as_ref()),
                _ => self.wrong_type(format!("{}[{i}]", self.key(name)), item, "a string"),
            }
        }
        out
    }

    /// The table `name` (`[name]`); an empty one when absent or not a table
    /// (reported).
    pub fn table(&mut self, name: &'static str) -> Section<'a> {
        let mut section = Section {
            report: self.report,
            path: self.key(name),
            table: None,
            line: self.line_of(name),
            known: Vec::new(),
            missing: Vec::new(),
            skip_unread: false,
        };
        if let Some(value) = self.get(name) {
            match value.get_ref() {
                DeValue::Table(t) => section.table = Some(t),
                _ => self.wrong_type(self.key(name), value, "a table"),
            }
        }
        section
    }

    /// The entries of the array of tables `name` (`[[name]]`), each named
    /// `name[i]` and placed at its own header; entries that are no table are
    /// reported and skipped (the others keep their index).
    pub fn tables(&mut self, name: &'static str) -> Vec<Section<'a>> {
        let Some(value) = self.get(name) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(self.key(name), value, "an array of tables");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{}[{i}]", self.key(name));
            match item.get_ref() {
                DeValue::Table(t) => out.push(Section {
                    report: self.report,
                    path,
                    table: Some(t),
                    line: Some(self.report.line(item.span().start)),
                    known: Vec::new(),
                    missing: Vec::new(),
                    skip_unread: false,
                }),
                _ => self.wrong_type(path, item, "a table"),
            }
        }
        out
    }

    /// Leaves the keys not read yet unjudged, for a table whose keys depend on
    /// a value that was wrong (a sink of an unknown kind): calling them all
    /// unknown would bury the one real problem.
    pub fn skip_unread(&mut self) {
        self.skip_unread = true;
    }

    /// Reports the required keys that are missing and every key of the table
    /// that no getter asked for.
    pub fn finish(self) {
        let unknown: Vec<_> = match self.table {
            Some(table) if !self.skip_unread => table
                .iter()
                .map(|(key, _)| key)
                .filter(|key| !self.known.contains(&key.get_ref().as_ref()))
                .collect(),
            _ => Vec::new(),
        };
        for name in &self.missing {
            if !unknown.iter().any(|key| misspelt(key.get_ref(), name)) {
                self.problem(name, "required key is missing");
            }
        }
        let expected: Vec<String> = self.known.iter().map(|k| format!("`{k}`")).collect();
        for key in unknown {
            let name: &str = key.get_ref();
            // A key read from `X_file` is named as written.
            let suffix = if self.report.from_file.borrow().contains(&self.key(name)) {
                environment::FILE_SUFFIX
            } else {
                ""
            };
            let message = match self.known.iter().find(|k| misspelt(name, k)) {
                Some(meant) => {
                    format!("unknown field `{name}{suffix}`, did you mean `{meant}{suffix}`?")
                }
                None if expected.is_empty() => {
                    format!("unknown field `{name}{suffix}`, this table takes no keys")
                }
                None => format!(
                    "unknown field `{name}{suffix}`, expected one of {}",
                    expected.join(", ")
                ),
            };
            self.report.push(
                self.key(name),
                Some(self.report.line(key.span().start)),
                message,
            );
        }
    }
}

/// Whether `given` reads as a typo of `key`: at most one edit (two for
/// longer keys) of insertion, deletion, substitution or swapping neighbours.
fn misspelt(given: &str, key: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (given.chars().collect(), key.chars().collect());
    let limit = if b.len() <= 4 { 1 } else { 2 };
    if a.len().abs_diff(b.len()) > limit {
        return false;
    }
    // Optimal string alignment distance, three rows at a time.
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (prev[j] + 1).min(row[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut prev, row);
    }
    prev[b.len()] <= limit
}

/// A TOML type name with its indefinite article: "an integer", "a string".
fn a(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {type_name}")
}

#[cfg(test)]
mod tests {
    use super::misspelt;

    #[test]
    fn typos_are_told_from_other_keys() {
        for (given, key) in [
            ("pth", "path"),
            ("chanel_capacity", "channel_capacity"),
            ("timout_secs", "timeout_secs"),
            ("subjcet", "subject"),
            ("uri", "url"),
        ] {
            assert!(misspelt(given, key), "{given} for {key}");
        }
        for (given, key) in [
            ("fsync", "path"),
            ("url", "table"),
            ("tls", "url"),
            ("x", "path"),
        ] {
            assert!(!misspelt(given, key), "{given} for {key}");
        }
    }
}
