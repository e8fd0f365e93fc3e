//! A PostgreSQL server of the test's own, in a temporary folder, for what the
//! shared test server cannot show: connections only over TLS, passwords
//! that are really checked. Started with `initdb` and `pg_ctl` from the
//! PostgreSQL installation (`/usr/lib/postgresql/*/bin`), stopped when the
//! value is dropped, however the test ends.
//!
//! `initdb` refuses to run as root: as root, the server's programs run as
//! the `postgres` user, which then owns the folder.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tokio_postgres::{Client, NoTls};

/// How the server is set up.
pub struct Setup<'a> {
    /// The lines of `pg_hba.conf` for TCP (`hostssl ...`, `host ...`); local
    /// socket connections, which the test itself uses, are trusted.
    pub hba: &'a [&'a str],
    /// The server's certificate chain and key (PEM): TLS on.
    pub tls: Option<(&'a str, &'a str)>,
}

pub struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// The user the server's programs run as, when the test runs as root.
    runas: Option<(u32, u32)>,
}

impl OwnPostgres {
    pub fn start(setup: Setup<'_>) -> OwnPostgres {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("a temporary folder");
        let runas = is_root().then(postgres_user);
        let server = OwnPostgres {
            dir,
            bin,
            port: 0,
            runas,
        };
        server.own(server.dir.path());
        server.run(
            "initdb",
            &[
                "-D",
                server.data().to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        );
        let mut hba = String::from("local all all trust\n");
        for line in setup.hba {
            hba.push_str(line);
            hba.push('\n');
        }
        server.write("pg_hba.conf", &hba);
        let mut conf = format!(
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n",
            server.dir.path().display()
        );
        if let Some((cert, key)) = setup.tls {
            server.write("server.crt", cert);
            server.write("server.key", key);
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        let conf_path = server.data().join("postgresql.conf");
        let mut all = std::fs::read_to_string(&conf_path).unwrap();
        all.push_str(&conf);
        server.write("postgresql.conf", &all);
        server.started()
    }

    /// The TCP port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection as the superuser over the local socket, for setting up
    /// roles and databases.
    pub async fn admin(&self) -> Client {
        self.client("postgres").await
    }

    /// A connection to `database` as the superuser over the local socket,
    /// for reading what a sink wrote.
    pub async fn client(&self, database: &str) -> Client {
        let (client, conn) = tokio_postgres::Config::new()
            .host_path(self.dir.path())
            .port(self.port)
            .user("postgres")
            .dbname(database)
            .connect(NoTls)
            .await
            .expect("the test's own server answers on its socket");
        tokio::spawn(conn);
        client
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the server on a free port, trying another one if the port was
    /// taken between finding it and binding it.
    fn started(mut self) -> OwnPostgres {
        for _ in 0..5 {
            self.port = super::servers::free_port();
            let log = self.dir.path().join("server.log");
            let ok = self.try_run(
                "pg_ctl",
                &[
                    "-D",
                    self.data().to_str().unwrap(),
                    "-l",
                    log.to_str().unwrap(),
                    "-o",
                    &format!("-p {}", self.port),
                    "-w",
                    "start",
                ],
            );
            if ok {
                return self;
            }
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                log.contains("could not bind") || log.contains("already in use"),
                "the test's own PostgreSQL did not start:\n{log}"
            );
        }
        panic!("no free port for the test's own PostgreSQL");
    }

    /// Writes a file of the data folder, readable by the server only (a key
    /// file must not be readable by others).
    fn write(&self, name: &str, text: &str) {
        let path = self.data().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        self.own(&path);
    }

    fn own(&self, path: &Path) {
        if let Some((uid, gid)) = self.runas {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        assert!(self.try_run(program, args), "{program} {args:?} failed");
    }

    fn try_run(&self, program: &str, args: &[&str]) -> bool {
        let program = self.bin.join(program);
        let mut cmd = match self.runas {
            Some(_) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", "postgres", "--"]).arg(&program);
                cmd
            }
            None => Command::new(&program),
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{} does not run: {e}", program.display()));
        if !out.status.success() {
            eprintln!(
                "{} {args:?}: {}{}",
                program.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out.status.success()
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.data();
            let _ = self.try_run(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
        }
    }
}

/// The newest PostgreSQL installed.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).expect(
        "these tests start a PostgreSQL server of their own: install PostgreSQL \
         (initdb and pg_ctl under /usr/lib/postgresql/*/bin)",
    )
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() == 0 }
}

/// The uid and gid of the `postgres` user.
fn postgres_user() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("running as root, the tests need a `postgres` user to run PostgreSQL as")
    };
    (id("-u"), id("-g"))
}
