//! Helpers shared by the integration tests.

pub mod browser;
pub mod own_postgres;
pub mod servers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Runs the `tidings` binary in `cwd`.
pub fn tidings(cwd: &Path, args: &[&str]) -> Output {
    tidings_with(cwd, args, &[])
}

/// Runs the `tidings` binary in `cwd` with these environment variables, and
/// without the ones that change its defaults unless given here: a test run
/// by a service manager (systemd sets `STATE_DIRECTORY` for a service with
/// `StateDirectory=`) must not write where the service keeps its state.
pub fn tidings_with(cwd: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidings"));
    cmd.current_dir(cwd)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("STATE_DIRECTORY")
        .env_remove("CONFIGURATION_DIRECTORY");
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().expect("the tidings binary runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The JSON records of a JSONL file.
pub fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON record"))
        .collect()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A config file in `dir` with a JSONL sink at `dir/out.jsonl` and extra TOML.
pub fn config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("tidings.toml");
    std::fs::write(
        &path,
        format!(
            "[state]\ndir = \"state\"\n\n[[sinks]]\nkind = \"jsonl\"\npath = \"out.jsonl\"\n{extra}"
        ),
    )
    .unwrap();
    path
}

/// Serves [`article_page`] `i` at `/p/i` for each `i` below `n`.
pub async fn serve_article_pages(server: &wiremock::MockServer, n: usize) {
    for i in 0..n {
        wiremock::Mock::given(wiremock::matchers::path(format!("/p/{i}")))
            .respond_with(
                wiremock::ResponseTemplate::new(200)
                    .insert_header("content-type", "text/html")
                    .set_body_string(article_page(i)),
            )
            .mount(server)
            .await;
    }
}

/// A news page of its own for item `i`: a headline and a few paragraphs whose
/// words differ from every other `i`'s, so no two pages are copies.
pub fn article_page(i: usize) -> String {
    const WORDS: [&str; 24] = [
        "envoys",
        "corridor",
        "monitoring",
        "delegation",
        "harbour",
        "winter",
        "grid",
        "observers",
        "schedule",
        "annex",
        "border",
        "convoy",
        "ministry",
        "statement",
        "draft",
        "summit",
        "grain",
        "prisoners",
        "mayor",
        "railway",
        "reservoir",
        "bridge",
        "clinic",
        "school",
    ];
    let sentence = |k: usize| -> String {
        let words: Vec<&str> = (0..14)
            .map(|j| WORDS[(i * 131 + k * 17 + j * j * 7 + j * (i % 5 + 1)) % WORDS.len()])
            .collect();
        format!(
            "Report {i}, part {k}: the {} said on day {}.",
            words.join(" "),
            i * 3 + k
        )
    };
    let paragraphs: String = (0..5)
        .map(|p| {
            let text: Vec<String> = (0..3).map(|s| sentence(p * 3 + s)).collect();
            format!("<p>{}</p>", text.join(" "))
        })
        .collect();
    format!(
        "<html><head><title>Dispatch {i}</title></head><body><nav><a href=\"/\">Home</a></nav>\
         <article><h1>Dispatch number {i} from the talks</h1>{paragraphs}</article>\
         <footer>All rights reserved</footer></body></html>"
    )
}

/// The text of report `n`: words of its own (a letter pair of `n`'s before
/// each syllable), shared with no other report, so that only the copies of
/// one report look alike to dedup.
pub fn report(n: usize) -> String {
    const SYLLABLES: [&str; 12] = [
        "ban", "cor", "dil", "fen", "gar", "hol", "lum", "mer", "nov", "pes", "ras", "tuv",
    ];
    let tag: String = [n / 26 % 26, n % 26]
        .iter()
        .map(|&i| char::from(b'a' + i as u8))
        .collect();
    let sentence = |k: usize| -> String {
        let words: Vec<String> = (0..12)
            .map(|j| format!("{tag}{}", SYLLABLES[(j * (k + 5) + k) % SYLLABLES.len()]))
            .collect();
        format!("Line {k} of the report: {}.", words.join(" "))
    };
    (0..4)
        .map(|p| {
            let text: Vec<String> = (0..3).map(|s| sentence(p * 3 + s)).collect();
            format!("<p>{}</p>", text.join(" "))
        })
        .collect()
}

pub fn page(title: &str, paragraphs: &str) -> String {
    format!(
        "<html><head><title>{title}</title></head><body><nav><a href=\"/\">Home</a></nav>\
         <article><h1>{title}</h1>{paragraphs}</article><footer>All rights reserved</footer>\
         </body></html>"
    )
}

/// A child process that is killed when the test ends, passed or failed, so
/// that a failing test leaves no daemon behind holding its pipes. With
/// [`Daemon::logged`] its standard error is collected line by line.
pub struct Daemon(pub std::process::Child, Option<LogLines>);

type LogLines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

impl Daemon {
    pub fn spawn(cmd: &mut Command) -> Daemon {
        Daemon(cmd.spawn().expect("the tidings binary starts"), None)
    }

    /// Spawns with standard error read into lines the test can wait for.
    pub fn logged(cmd: &mut Command) -> Daemon {
        let mut child = cmd
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the tidings binary starts");
        let lines: LogLines = std::sync::Arc::default();
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().unwrap().push(line);
            }
        });
        Daemon(child, Some(lines))
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Every line of standard error so far.
    pub fn log(&self) -> Vec<String> {
        self.1
            .as_ref()
            .map(|l| l.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Waits (up to a minute) for a line of standard error that `pick` takes.
    pub fn wait_for<T>(&self, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(found) = self.log().iter().find_map(|l| pick(l)) {
                return found;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no such line in {:?}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The address of the metrics listener, from the daemon's JSON log (run
    /// it with `--log-format json` and `listen = "127.0.0.1:0"`).
    pub fn metrics_addr(&self) -> std::net::SocketAddr {
        self.listening("metrics and /healthz listening")
    }

    /// The address of the status page, likewise.
    pub fn web_addr(&self) -> std::net::SocketAddr {
        self.listening("status page listening")
    }

    fn listening(&self, what: &str) -> std::net::SocketAddr {
        self.wait_for(|line| {
            let event: serde_json::Value = serde_json::from_str(line).ok()?;
            let fields = &event["fields"];
            (fields["message"] == what)
                .then(|| fields["addr"].as_str()?.parse().ok())
                .flatten()
        })
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the configured feeds through the pipeline in this process: once
/// each, or until `shutdown`.
pub async fn run_feeds(
    cfg: &tidings::config::Config,
    once: bool,
    shutdown: tokio_util::sync::CancellationToken,
) -> tidings::observe::Summary {
    use tidings::fetch::{feeds::FeedSource, http};
    let http = std::sync::Arc::new(http::Client::live(&cfg.http, None).unwrap());
    let source = Box::new(FeedSource {
        feeds: cfg.feeds.clone(),
        poll: cfg.poll.clone(),
        http,
        once,
        sequential: false,
        share: None,
    });
    let mode = if once {
        tidings::pipeline::Mode::OneShot
    } else {
        tidings::pipeline::Mode::Daemon
    };
    tidings::pipeline::run(cfg, source, mode, shutdown)
        .await
        .unwrap()
}
