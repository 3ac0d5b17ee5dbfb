//! The `mnemo serve` binary as a child process: started, waited for until it
//! logs that it is ready, stopped with SIGTERM, killed if a test fails first.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// How long a server may take to log `ready`; generous, CI machines are slow.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `mnemo serve`, killed on drop.
pub struct ServeProcess {
    child: Child,
    /// The address from the server's `listen=` log line.
    pub addr: String,
    /// Log lines printed after `ready`.
    pub log: Receiver<String>,
}

impl ServeProcess {
    /// Start `cmd` (a `mnemo serve` command; stdout as the caller set it) and
    /// wait until it has opened the memory stores: `/readyz` answers 200 from
    /// then on. Before that it answers 503 while the partitions load, so a
    /// test that asks earlier races the startup.
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .env("MNEMO_LOG", "warn,mnemo=info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mnemo serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining after the reader is gone, so the server never
            // writes its log into a closed pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut process = Self {
            child,
            addr: String::new(),
            log,
        };
        let mut seen = Vec::new();
        loop {
            let line = process
                .log
                .recv_timeout(READY_TIMEOUT)
                .unwrap_or_else(|_| panic!("mnemo serve did not get ready:\n{}", seen.join("\n")));
            if let Some(addr) = listen_address(&line) {
                process.addr = addr;
            }
            if line.contains(" ready") {
                break;
            }
            seen.push(line);
        }
        assert!(
            !process.addr.is_empty(),
            "no `listen=` log line:\n{}",
            seen.join("\n")
        );
        process
    }

    /// The server's stdout, when the command piped it.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// Send SIGTERM now, without waiting.
    pub fn send_sigterm(&self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(killed.success(), "kill -TERM failed");
    }

    /// Wait for the process to end.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().expect("wait for mnemo serve")
    }

    /// SIGKILL, then wait: no chance to finish anything (a crash, an OOM kill).
    pub fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait for mnemo serve");
    }

    /// SIGTERM, then wait: the server's exit status.
    pub fn stop(mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `127.0.0.1:PORT` from a log line holding `listen=127.0.0.1:PORT`.
fn listen_address(line: &str) -> Option<String> {
    let at = line.find("listen=")?;
    let rest = &line[at + "listen=".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}
