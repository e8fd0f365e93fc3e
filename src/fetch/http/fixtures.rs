//! Fixture folders: `tidings record` appends every response to one,
//! `tidings replay` answers from one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{FetchError, Response};
use super::{parse_max_age, shown};
use crate::redact;
use crate::state::Validators;

/// One recorded exchange in a fixture folder: a line of `responses.jsonl`,
/// its body in `bodies/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    pub url: String,
    pub status: u16,
    pub time: DateTime<Utc>,
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// File name under `bodies/`; none for an empty body.
    #[serde(default)]
    pub body: Option<String>,
}

impl Exchange {
    pub(super) fn load_all(dir: &Path) -> anyhow::Result<Vec<Exchange>> {
        use anyhow::Context;
        let path = dir.join("responses.jsonl");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading fixture index {}", path.display()))?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .with_context(|| format!("{}: line {}", path.display(), i + 1))
            })
            .collect()
    }

    pub(super) fn to_response(
        &self,
        dir: &Path,
        url: &Url,
        limit: usize,
    ) -> Result<Response, FetchError> {
        let header = |name: &str| {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if self.status >= 400 {
            return Err(FetchError::Status {
                url: shown(url),
                status: self.status,
                retry_after: header("retry-after")
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_secs),
            });
        }
        let body = match &self.body {
            Some(name) => {
                std::fs::read(dir.join("bodies").join(name)).map_err(|e| FetchError::Other {
                    url: shown(url),
                    reason: format!("fixture body {name}: {e}"),
                })?
            }
            None => Vec::new(),
        };
        if body.len() > limit {
            return Err(FetchError::TooLarge {
                url: shown(url),
                limit,
            });
        }
        Ok(Response {
            status: self.status,
            url: url.clone(),
            content_type: header("content-type"),
            validators: Validators {
                etag: header("etag"),
                last_modified: header("last-modified"),
            },
            max_age: header("cache-control").as_deref().and_then(parse_max_age),
            body,
            received_at: self.time,
        })
    }
}

/// Appends every response to a fixture folder as it arrives.
pub(super) struct Recorder {
    dir: PathBuf,
    next: Mutex<u64>,
}

impl Recorder {
    pub(super) fn create(dir: &Path) -> anyhow::Result<Recorder> {
        std::fs::create_dir_all(dir.join("bodies"))?;
        let existing = std::fs::read_dir(dir.join("bodies"))?.count() as u64;
        Ok(Recorder {
            dir: dir.to_path_buf(),
            next: Mutex::new(existing),
        })
    }

    fn append(&self, mut rec: Exchange, body: &[u8]) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        // A fixture is shared: the links in a feed or page lose their
        // secrets like the recorded URLs do, and replay asks for them so.
        let body = redact::bytes(body);
        if !body.is_empty() {
            let name = format!("{:06}", *next);
            *next += 1;
            if let Err(e) = std::fs::write(self.dir.join("bodies").join(&name), &body) {
                tracing::warn!("recording {}: {e}", rec.url);
                return;
            }
            rec.body = Some(name);
        }
        let line = match serde_json::to_string(&rec) {
            Ok(l) => l + "\n",
            Err(e) => {
                tracing::warn!("recording {}: {e}", rec.url);
                return;
            }
        };
        use std::io::Write;
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("responses.jsonl"))
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            tracing::warn!("recording {}: {e}", rec.url);
        }
    }

    pub(super) fn store(&self, url: &Url, resp: &Response) {
        let mut headers = HashMap::new();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                headers.insert(k.to_string(), v.clone());
            }
        };
        put("content-type", &resp.content_type);
        put("etag", &resp.validators.etag);
        put("last-modified", &resp.validators.last_modified);
        put(
            "cache-control",
            &resp.max_age.map(|a| format!("max-age={}", a.as_secs())),
        );
        let rec = Exchange {
            url: shown(url),
            status: resp.status,
            time: resp.received_at,
            headers,
            body: None,
        };
        self.append(rec, &resp.body);
    }

    pub(super) fn store_status(&self, url: &Url, status: u16, retry_after: Option<Duration>) {
        let mut headers = HashMap::new();
        if let Some(r) = retry_after {
            headers.insert("retry-after".to_string(), r.as_secs().to_string());
        }
        let rec = Exchange {
            url: shown(url),
            status,
            time: Utc::now(),
            headers,
            body: None,
        };
        self.append(rec, &[]);
    }
}
