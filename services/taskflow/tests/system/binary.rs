//! The built `taskflow` binary as a child process, for the tests that need the real thing (signals,
//! crashes, restarts): started on port 0 with the settings a test gives, its address read from the
//! banner, its stdout kept (JSON log lines) and drained so it never blocks on a full pipe, and killed
//! if the test fails before it exits.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

const RATES_OFF: [(&str, &str); 5] = [
    ("RATE_LOGINS_PER_ACCOUNT_PER_MIN", "0"),
    ("RATE_LOGINS_PER_IP_PER_MIN", "0"),
    ("RATE_WRITES_PER_SEC", "0"),
    ("RATE_CHAT_PER_MIN", "0"),
    ("RATE_MCP_PER_SEC", "0"),
];

pub struct Binary {
    pub child: Child,
    pub base: String,
    log: Option<JoinHandle<Vec<String>>>,
}

impl Binary {
    /// Starts the binary with `env` on top of what every run needs (port 0, JSON logs) and without
    /// the surrounding test environment's database, secret or collector.
    pub fn spawn(env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_taskflow"));
        command
            .env_remove("DATABASE_URL")
            .env_remove("JWT_SECRET")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("CORS_ALLOWED_ORIGINS")
            .env("PORT", "0")
            .env("LOG_FORMAT", "json")
            // Load, not rates: the per-user and login rates have their own tests in backend-api.
            .envs(RATES_OFF.iter().copied())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("start the taskflow binary");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("taskflow exited before listening")
                .expect("read taskflow's stdout");
            if let Some(url) = line.strip_prefix("TaskFlow is listening on ") {
                break url.trim().to_owned();
            }
        };
        let log = std::thread::spawn(move || lines.map_while(Result::ok).collect());
        Self {
            child,
            base,
            log: Some(log),
        }
    }

    /// The whole system on `database_url`, its private files in `data_dir`, signing tokens with a
    /// fixed test secret, the reminder timer idle: what the restart and takeover tests run.
    pub fn spawn_system(database_url: &str, data_dir: &std::path::Path) -> Self {
        Self::spawn(&[
            ("DATABASE_URL", database_url),
            (
                "TASKFLOW_DATA_DIR",
                data_dir.to_str().expect("a UTF-8 temporary path"),
            ),
            (
                "JWT_SECRET",
                "system-binary-test-secret-that-is-at-least-32-bytes",
            ),
            ("HOST", "127.0.0.1"),
            ("RUST_LOG", "warn"),
            ("NOTIFICATION_TICK_SECS", "3600"),
        ])
    }

    /// Sends SIGTERM, as an orchestrator stopping the process does.
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Sends SIGKILL: no chance to clean up.
    pub fn kill(&self) {
        self.signal("-KILL");
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill {signal} {}", self.child.id());
    }

    /// Waits for the process to exit, without blocking the test's runtime.
    pub async fn exited(&mut self) -> ExitStatus {
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the process printed after its banner; call once it has exited.
    pub fn log(&mut self) -> Vec<String> {
        self.log
            .take()
            .map(|log| log.join().expect("the log reader"))
            .unwrap_or_default()
    }
}

impl Drop for Binary {
    /// A failing test must not leave the process behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
