use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::process::{free_port, signal, wait_for_port, ChildGuard};

/// A throwaway PostgreSQL server on a free loopback port with trust authentication
/// (user `postgres`, database `postgres`), its data in a temporary directory. With
/// [`TestPostgres::start_with_passwords`] every other role must log in with its password.
///
/// `initdb` refuses to run as root, so when the tests run as root the cluster is created
/// and served as the `postgres` system user. The cluster is initialised once per test
/// process and copied for each server, which keeps a server's start well under a second.
#[derive(Debug)]
pub struct TestPostgres {
    port: u16,
    dir: tempfile::TempDir,
    tls: bool,
    server: Option<ChildGuard>,
}

#[derive(Debug, Clone, Copy)]
struct SystemUser {
    uid: u32,
    gid: u32,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn postgres_user() -> Option<SystemUser> {
    if !is_root() {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("running id(1)");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("running as root needs the `postgres` system user (apt-get install postgresql)")
    };
    Some(SystemUser {
        uid: id("-u"),
        gid: id("-g"),
    })
}

fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("bin"))
                .filter(|bin| bin.join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|path| {
        path.parent()
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().unwrap_or_else(|| {
        panic!("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: apt-get install postgresql (or set PG_BIN)")
    })
}

fn as_user(command: &mut Command, user: Option<SystemUser>) -> &mut Command {
    if let Some(user) = user {
        command.uid(user.uid).gid(user.gid);
    }
    command
}

fn chown(path: &Path, user: Option<SystemUser>) {
    if let Some(user) = user {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", user.uid, user.gid))
            .arg(path)
            .status()
            .expect("running chown");
        assert!(status.success(), "chown {} failed", path.display());
    }
}

/// A freshly initialised cluster, created once per process and copied from then on.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let user = postgres_user();
            let dir = tempfile::Builder::new()
                .prefix("pg-template")
                .tempdir()
                .expect("temporary directory");
            chown(dir.path(), user);
            let data = dir.path().join("data");
            let output = as_user(&mut Command::new(bin_dir().join("initdb")), user)
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
                .current_dir(dir.path())
                .output()
                .expect("running initdb");
            assert!(
                output.status.success(),
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            dir
        })
        .path()
}

impl TestPostgres {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// With `ssl=on` and a self-signed certificate, so clients can use `sslmode=require`
    /// (as RDS for PostgreSQL 15+ enforces).
    pub fn start_with_tls() -> Self {
        Self::start_with(true)
    }

    /// `postgres` still trusted (the harness's own psql), every other role authenticated
    /// by password (SCRAM), as on RDS: for tests of logins and password rotation.
    pub fn start_with_passwords() -> Self {
        Self::start_configured(false, true)
    }

    fn start_with(tls: bool) -> Self {
        Self::start_configured(tls, false)
    }

    fn start_configured(tls: bool, passwords: bool) -> Self {
        let user = postgres_user();
        let dir = tempfile::Builder::new()
            .prefix("pg")
            .tempdir()
            .expect("temporary directory");
        let status = Command::new("cp")
            .arg("-a")
            .arg(template().join("data"))
            .arg(dir.path().join("data"))
            .status()
            .expect("copying the template cluster");
        assert!(status.success(), "copying the template cluster failed");
        if passwords {
            std::fs::write(
                dir.path().join("data/pg_hba.conf"),
                "local all all trust\n\
                 host all postgres 127.0.0.1/32 trust\n\
                 host all all 127.0.0.1/32 scram-sha-256\n",
            )
            .expect("writing pg_hba.conf");
        }
        if tls {
            crate::process::self_signed_certificate(dir.path());
            let key = dir.path().join("server.key");
            let _ = Command::new("chmod").arg("600").arg(&key).status();
        }
        chown(dir.path(), user);
        let mut postgres = Self {
            port: free_port(),
            dir,
            tls,
            server: None,
        };
        postgres.launch();
        postgres
    }

    fn launch(&mut self) {
        let user = postgres_user();
        let mut command = Command::new(bin_dir().join("postgres"));
        as_user(&mut command, user)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            // fsync=off survives a killed server (the OS still has the writes), which is
            // what these tests do; synchronous_commit stays on so a commit is durable.
            .args(["-c", "fsync=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=300"]);
        if self.tls {
            command
                .args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!(
                    "ssl_cert_file={}",
                    self.dir.path().join("server.crt").display()
                ))
                .arg("-c")
                .arg(format!(
                    "ssl_key_file={}",
                    self.dir.path().join("server.key").display()
                ));
        }
        command
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.server = Some(ChildGuard::spawn("postgres", &mut command));
        assert!(
            wait_for_port(self.port, Duration::from_secs(20)),
            "postgres did not listen on port {} within 20 s",
            self.port
        );
        // The port opens slightly before the server accepts queries.
        for _ in 0..100 {
            if self.psql("postgres", "SELECT 1").is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("postgres on port {} never accepted queries", self.port);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of the default `postgres` database.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    pub fn database_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, database: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{database}\""))
            .unwrap_or_else(|err| panic!("CREATE DATABASE {database}: {err}"));
        self.database_url(database)
    }

    /// Runs SQL with psql (unaligned, tuples only) and returns the trimmed output.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let output = Command::new("psql")
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", database, "-c", sql])
            .output()
            .map_err(|err| format!("cannot run psql (apt-get install postgresql-client): {err}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    }

    /// Stops the server abruptly (SIGKILL of the postmaster and its backends).
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let pid = server.pid();
            // Children of the postmaster would keep the port and shared memory otherwise.
            let _ = Command::new("pkill")
                .args(["-KILL", "-P", &pid.to_string()])
                .status();
            server.kill();
            let _ = std::fs::remove_file(self.dir.path().join("data").join("postmaster.pid"));
        }
    }

    /// A clean fast shutdown (SIGINT: abort sessions, checkpoint, exit).
    pub fn shutdown(&mut self) {
        if let Some(mut server) = self.server.take() {
            signal(server.pid(), "INT");
            server.terminate(Duration::from_secs(10));
        }
    }

    pub fn start_again(&mut self) {
        assert!(self.server.is_none(), "postgres is still running");
        self.launch();
    }

    pub fn restart(&mut self) {
        self.shutdown();
        self.start_again();
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
