//! The real servers some tests talk to (PostgreSQL, NATS JetStream), and
//! what those tests share: addresses, a proxy that stands for an outage,
//! cleanup of tables and streams.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Bound on anything that waits for a server, so a broken sink fails the
/// test instead of hanging it.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The PostgreSQL server of the tests: `TIDINGS_TEST_POSTGRES_URL`, else the
/// standard local one.
pub fn postgres_url() -> String {
    server_url(
        "TIDINGS_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    )
}

/// The NATS server (with JetStream) of the tests: `TIDINGS_TEST_NATS_URL`,
/// else the standard local one.
pub fn nats_url() -> String {
    server_url(
        "TIDINGS_TEST_NATS_URL",
        "nats://127.0.0.1:4222",
        "nats-server -a 127.0.0.1 -p 4222 -js",
    )
}

/// A server that is not there fails the test with what to do about it: a
/// test that passes without having run would hide a broken sink.
fn server_url(var: &str, default: &str, start: &str) -> String {
    let url = std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string());
    let parsed = url::Url::parse(&url).unwrap_or_else(|e| panic!("{var}={url}: {e}"));
    let host = parsed.host_str().unwrap_or("127.0.0.1").to_string();
    let port = parsed.port().unwrap_or(0);
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok()
        });
    assert!(
        reachable,
        "{host}:{port} does not answer. These tests need the real server: start it \
         (`{start}`) or point {var} at one; to leave these tests out, run \
         `cargo test -- --skip servers`."
    );
    url
}

/// A name no other test (or concurrent run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A port on which nothing listens: for settings that must be refused
/// before anything connects.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// A TCP forwarder in front of a real server, standing for that server going
/// away and coming back. It keeps its port for the whole test (no other
/// process can take it between a stop and a start): when down it cuts every
/// open connection and drops each new one at once, as a dead server would.
pub struct Proxy {
    url: String,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<JoinSet<()>>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// A proxy for the server of `url`, up (`up = true`) or not yet.
    pub async fn new(url: &str, up: bool) -> Proxy {
        let mut u = url::Url::parse(url).expect("the test URL parses");
        let host = u.host_str().expect("the test URL has a host").to_string();
        let port = u.port().expect("the test URL has a port");
        let server = tokio::net::lookup_host((host.as_str(), port))
            .await
            .expect("the test server's host resolves")
            .next()
            .expect("one address");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(listener.local_addr().unwrap().port()))
            .unwrap();
        let up = Arc::new(AtomicBool::new(up));
        let conns: Arc<Mutex<JoinSet<()>>> = Arc::default();
        let (accepting, open) = (up.clone(), conns.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue;
                }
                open.lock().unwrap().spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(server).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy {
            url: u.to_string(),
            up,
            conns,
            task,
        }
    }

    /// The server's URL, through the proxy.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server goes away: open connections are cut, new ones dropped.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        // Dropping the set aborts every forwarder and closes its sockets.
        drop(std::mem::take(&mut *self.conns.lock().unwrap()));
    }

    /// The server is back.
    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.down();
    }
}

pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {PATIENCE:?}"))
}

/// Runs its future when dropped, so a failing test removes its table or
/// stream too. `Drop` cannot await, and the test's runtime may be going away,
/// so it runs on a thread with a runtime of its own.
pub struct Cleanup(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Cleanup {
    pub fn new(fut: impl Future<Output = ()> + Send + 'static) -> Cleanup {
        Cleanup(Some(Box::pin(fut)))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(fut) = self.0.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(fut);
                }
            })
            .join();
        }
    }
}

pub mod pg {
    use super::*;
    use std::collections::BTreeSet;
    use tokio_postgres::{Client, NoTls};

    pub async fn client(url: &str) -> Client {
        let (client, conn) = tokio_postgres::connect(url, NoTls)
            .await
            .expect("the test database answers");
        tokio::spawn(conn);
        client
    }

    /// The ids stored in `table`, and how many rows there are.
    pub async fn stored(client: &Client, table: &str) -> (BTreeSet<String>, i64) {
        let rows = client
            .query(&format!("SELECT id FROM {table}"), &[])
            .await
            .expect("the table can be read");
        let count = rows.len() as i64;
        (rows.iter().map(|r| r.get::<_, String>(0)).collect(), count)
    }

    /// Drops `table` (and its views) and its `tidings_schema` row when the
    /// test ends.
    pub fn cleanup(url: &str, table: &str) -> Cleanup {
        let (url, table) = (url.to_string(), table.to_string());
        Cleanup::new(async move {
            let db = client(&url).await;
            let _ = db
                .batch_execute(&format!("DROP TABLE IF EXISTS {table} CASCADE"))
                .await;
            let _ = db
                .execute(
                    "DELETE FROM tidings_schema WHERE table_name = $1",
                    &[&table],
                )
                .await;
        })
    }

    /// Drops `schema` (a state store's) and all it holds when the test ends.
    pub fn drop_schema(url: &str, schema: &str) -> Cleanup {
        let (url, schema) = (url.to_string(), schema.to_string());
        Cleanup::new(async move {
            let db = client(&url).await;
            let _ = db
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await;
        })
    }
}

pub mod js {
    use super::*;
    use async_nats::jetstream::{self, Context};
    use std::collections::BTreeSet;
    use tidings::record::Record;

    pub async fn context(url: &str) -> Context {
        let client = async_nats::connect(url)
            .await
            .expect("the test NATS server answers");
        jetstream::new(client)
    }

    /// The message ids stored in `stream` (a record's id, `<id>@<version>`
    /// for a later version), and how many messages there are.
    pub async fn stored(js: &Context, stream: &str) -> (BTreeSet<String>, u64) {
        let mut stream = js.get_stream(stream).await.expect("the stream exists");
        let state = stream.info().await.expect("stream info").state.clone();
        let mut ids = BTreeSet::new();
        for seq in state.first_sequence..=state.last_sequence {
            if state.messages == 0 {
                break;
            }
            let message = stream.get_raw_message(seq).await.expect("a stored message");
            let id = message
                .headers
                .get("Nats-Msg-Id")
                .expect("each message carries its record id")
                .to_string();
            let record: Record =
                serde_json::from_slice(&message.payload).expect("each message is a record");
            let expected = match record.version {
                1 => record.id.clone(),
                version => format!("{}@{version}", record.id),
            };
            assert_eq!(expected, id);
            ids.insert(id);
        }
        (ids, state.messages)
    }

    /// Deletes the stream named `stream`, or else the one taking `subject`,
    /// when the test ends.
    pub fn cleanup(url: &str, stream: Option<&str>, subject: &str) -> Cleanup {
        let (url, stream, subject) = (
            url.to_string(),
            stream.map(str::to_string),
            subject.to_string(),
        );
        Cleanup::new(async move {
            let js = context(&url).await;
            let name = match stream {
                Some(name) => Some(name),
                None => js.stream_by_subject(subject).await.ok(),
            };
            if let Some(name) = name {
                let _ = js.delete_stream(name).await;
            }
        })
    }
}
