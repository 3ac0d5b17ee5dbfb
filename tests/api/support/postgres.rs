//! A Postgres cluster of one test's own, to stop and start under load: the
//! binaries `scripts/pg-env.sh` installs (`MNEMO_PG_BIN`), a data directory in
//! a temp dir, a free port; run as the `postgres` user when the tests run as
//! root (initdb refuses root). Stopped and deleted on drop.

use std::path::PathBuf;
use std::process::Command;

pub struct OwnPostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
}

impl OwnPostgres {
    pub fn start() -> Self {
        let bin = PathBuf::from(std::env::var("MNEMO_PG_BIN").unwrap_or_else(|_| {
            panic!("MNEMO_PG_BIN is not set: run the tests through scripts/test, which installs Postgres")
        }));
        let dir = tempfile::tempdir().expect("temp dir");
        if running_as_root() {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let cluster = Self { dir, port, bin };
        run(cluster
            .pg("initdb")
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "-D"])
            .arg(cluster.data()));
        cluster.resume();
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stop at once, as a crash would (no checkpoint, connections cut).
    pub fn stop(&self) {
        run(self
            .pg("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop"));
    }

    /// Start (again), waiting until it accepts connections.
    pub fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        run(self
            .pg("pg_ctl")
            .args(["-w", "-D"])
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-o", &options, "start"]));
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of the cluster's programs, as the `postgres` user when we are root.
    fn pg(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if running_as_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self
            .pg("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .output();
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run a Postgres program");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
