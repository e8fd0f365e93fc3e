//! Headless Chromium driven over its DevTools protocol (CDP), so that a test
//! can use a page as a person does: open it, type into a field, click a
//! button at its place on the screen, read what the page then shows, and
//! hear everything the page reports as wrong (console errors, uncaught
//! exceptions, loads the Content-Security-Policy refused).
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). Every
//! wait has a deadline, so a browser that hangs fails the test with what it
//! was waiting for and the end of Chromium's own log, instead of hanging CI.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long Chromium may take over one step (start, one command, a page
/// load, a change the page is waited for) before it is taken for hung.
/// Generous: CI shares two cores with the build.
const PATIENCE: Duration = Duration::from_secs(60);

/// The Chromium process, killed (and its profile removed) on drop, however
/// the test ends.
struct Process {
    child: Child,
    /// Its standard error, line by line: what it says when it hangs.
    log: Arc<Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

impl Process {
    /// The last lines of Chromium's log, for a failure message.
    fn tail(&self) -> String {
        let log = self.log.lock().unwrap();
        log[log.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Browser {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// What the pages reported as wrong since [`Browser::problems`] last
    /// took them.
    problems: Vec<String>,
    /// Whether the page opened last has fired its load event.
    loaded: bool,
    process: Process,
}

impl Browser {
    /// Starts Chromium with a fresh profile and attaches to its page.
    pub async fn start() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromium does not run ({e}): install Debian's chromium package (apt-get install chromium)")
            });
        // Read standard error to its end, so that Chromium never blocks on a
        // full pipe; the first line naming the DevTools endpoint is the one
        // we wait for.
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (found, endpoint) = tokio::sync::oneshot::channel();
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = log.clone();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ")
                    && let Some(found) = found.take()
                {
                    let _ = found.send(url.trim().to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let process = Process {
            child,
            log,
            _profile: profile,
        };
        let endpoint = match tokio::time::timeout(PATIENCE, endpoint).await {
            Ok(Ok(endpoint)) => endpoint,
            Ok(Err(_)) => panic!(
                "chromium ended without a DevTools endpoint:\n{}",
                process.tail()
            ),
            Err(_) => panic!(
                "chromium named no DevTools endpoint within {PATIENCE:?}:\n{}",
                process.tail()
            ),
        };
        let port = url::Url::parse(&endpoint)
            .ok()
            .and_then(|u| u.port())
            .unwrap_or_else(|| panic!("no port in the DevTools endpoint {endpoint}"));
        let page = page_target(port, &process).await;
        let (socket, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(&page))
            .await
            .unwrap_or_else(|_| panic!("no WebSocket to {page} within {PATIENCE:?}"))
            .unwrap_or_else(|e| panic!("WebSocket to {page}: {e}\n{}", process.tail()));
        let mut browser = Browser {
            socket,
            next_id: 0,
            problems: Vec::new(),
            loaded: false,
            process,
        };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({})).await;
        }
        browser
    }

    /// Opens `url` and waits for its load event (its deferred scripts have
    /// run by then); returns the HTTP status of the page.
    pub async fn open(&mut self, url: &str) -> u16 {
        self.loaded = false;
        let navigated = self.call("Page.navigate", json!({ "url": url })).await;
        if let Some(error) = navigated.get("errorText") {
            panic!("{url} did not open: {error}");
        }
        while !self.loaded {
            let message = self.receive(&format!("the load event of {url}")).await;
            self.note(&message);
        }
        let status = self
            .eval("performance.getEntriesByType('navigation')[0].responseStatus")
            .await;
        status
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or_else(|| panic!("no HTTP status for {url}: {status}"))
    }

    /// Runs `expression` in the page (awaiting it if it is a promise) and
    /// returns its value as JSON; panics if it throws.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        if let Some(thrown) = result.get("exceptionDetails") {
            panic!("{expression} threw: {thrown}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy in the page and returns its value.
    pub async fn wait_for(&mut self, expression: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let value = self.eval(expression).await;
            if !matches!(value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0)
            {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{expression} still {value} after {PATIENCE:?}; the page: {}",
                self.eval("document.body.innerText").await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the element `selector` names with the mouse, at its middle
    /// once it is scrolled into view, as a person would: it must be there,
    /// visible and not covered by another element.
    pub async fn click(&mut self, selector: &str) {
        let quoted = serde_json::to_string(selector).unwrap();
        let at = self
            .eval(&format!(
                "(() => {{
                    const e = document.querySelector({quoted});
                    if (!e) return 'none';
                    e.scrollIntoView({{ block: 'center' }});
                    const r = e.getBoundingClientRect();
                    const x = r.x + r.width / 2, y = r.y + r.height / 2;
                    const top = document.elementFromPoint(x, y);
                    if (!top || !(top === e || e.contains(top))) return 'covered';
                    return [x, y];
                }})()"
            ))
            .await;
        let [x, y] = [&at[0], &at[1]].map(|v| {
            v.as_f64()
                .unwrap_or_else(|| panic!("cannot click {selector}: {at}"))
        });
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            )
            .await;
        }
    }

    /// Clicks into the field `selector` names and types `text` into it.
    pub async fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector).await;
        self.call("Input.insertText", json!({ "text": text })).await;
    }

    /// What the pages reported as wrong since the last call: console errors
    /// and warnings, uncaught exceptions, refused loads (a CSP violation is
    /// one), each on one line.
    pub async fn problems(&mut self) -> Vec<String> {
        // One round trip, so that what the page reported before it is in.
        self.eval("0").await;
        std::mem::take(&mut self.problems)
    }

    /// Sends a CDP command and returns its result, keeping the events that
    /// arrive meanwhile.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let command = json!({ "id": id, "method": method, "params": params }).to_string();
        match tokio::time::timeout(PATIENCE, self.socket.send(Message::text(command))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{method} not sent: {e}\n{}", self.process.tail()),
            Err(_) => panic!(
                "{method} not sent within {PATIENCE:?}\n{}",
                self.process.tail()
            ),
        }
        loop {
            let message = self.receive(method).await;
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    panic!("{method} {params}: {error}");
                }
                return message["result"].clone();
            }
            self.note(&message);
        }
    }

    /// The next message from Chromium, within [`PATIENCE`].
    async fn receive(&mut self, waiting_for: &str) -> Value {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "chromium gave nothing for {waiting_for} within {PATIENCE:?}\n{}",
                        self.process.tail()
                    )
                });
            match next {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("not CDP JSON ({e}): {text}"));
                }
                Some(Ok(_)) => {} // pings and the like
                Some(Err(e)) => {
                    panic!("the DevTools socket failed ({e}) waiting for {waiting_for}")
                }
                None => panic!(
                    "chromium closed the DevTools socket waiting for {waiting_for}\n{}",
                    self.process.tail()
                ),
            }
        }
    }

    /// Keeps what an event says about the page.
    fn note(&mut self, event: &Value) {
        let params = &event["params"];
        match event["method"].as_str().unwrap_or_default() {
            "Page.loadEventFired" => self.loaded = true,
            "Runtime.consoleAPICalled" => {
                let kind = params["type"].as_str().unwrap_or_default();
                if matches!(kind, "error" | "warning" | "assert") {
                    let args: Vec<String> = params["args"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            a["value"]
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| a["description"].to_string())
                        })
                        .collect();
                    self.problems
                        .push(format!("console.{kind}: {}", args.join(" ")));
                }
            }
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                let what = details["exception"]["description"]
                    .as_str()
                    .or(details["text"].as_str())
                    .unwrap_or_default();
                self.problems.push(format!(
                    "uncaught at {}:{}: {what}",
                    details["url"].as_str().unwrap_or_default(),
                    details["lineNumber"]
                ));
            }
            "Log.entryAdded" => {
                let entry = &params["entry"];
                let level = entry["level"].as_str().unwrap_or_default();
                if matches!(level, "error" | "warning") {
                    self.problems.push(format!(
                        "{} {level}: {} {}",
                        entry["source"].as_str().unwrap_or_default(),
                        entry["text"].as_str().unwrap_or_default(),
                        entry["url"].as_str().unwrap_or_default()
                    ));
                }
            }
            _ => {}
        }
    }
}

/// The WebSocket address of Chromium's page (the `about:blank` it was
/// started with), from its HTTP list of targets.
async fn page_target(port: u16, process: &Process) -> String {
    let list = format!("http://127.0.0.1:{port}/json/list");
    let deadline = Instant::now() + PATIENCE;
    loop {
        // Chromium's own answer on loopback, a few hundred bytes; a browser
        // that takes the connection and never answers is asked again.
        #[allow(clippy::disallowed_methods)]
        let asked = tokio::time::timeout(Duration::from_secs(5), async {
            reqwest::get(&list).await?.text().await
        })
        .await;
        let targets: Vec<Value> = match asked {
            Ok(Ok(text)) => serde_json::from_str(&text).unwrap_or_default(),
            _ => Vec::new(),
        };
        if let Some(page) = targets
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        {
            return page.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no page among chromium's targets ({targets:?}) within {PATIENCE:?}\n{}",
            process.tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
