//! What the soak writes down: every acknowledged (and every failed) write, for the integrity checks
//! that compare it with the database afterwards; every received event, per socket; and latency and
//! error counts, overall and per sampling interval.
//!
//! Files, not memory, for the writes and events: the checks run in `bench/soak/check.py` against
//! PostgreSQL, and a 10-minute soak acknowledges a few hundred thousand writes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::stats::{ms, pct, r2};

/// A tab-separated log, one line per record, flushed when dropped or on `flush`.
pub struct Log(Mutex<BufWriter<File>>);

impl Log {
    pub fn create(path: &str) -> Result<Self, String> {
        let file = File::create(path).map_err(|e| format!("{path}: {e}"))?;
        Ok(Self(Mutex::new(BufWriter::new(file))))
    }

    pub fn line(&self, fields: &[&str]) {
        let mut w = self.0.lock().unwrap();
        let _ = writeln!(w, "{}", fields.join("\t"));
    }

    pub fn flush(&self) {
        let _ = self.0.lock().unwrap().flush();
    }
}

/// Microseconds since the Unix epoch: the acknowledgement log's clock, comparable with the
/// database's timestamps (same machine).
pub fn epoch_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The write log: `seq op outcome user task version epoch_us`. `outcome` is `ok` (acknowledged:
/// a 2xx was read) or `fail` (sent, no 2xx: its effect is unknown).
pub struct Acks {
    log: Log,
    seq: AtomicU64,
}

impl Acks {
    pub fn create(path: &str) -> Result<Self, String> {
        Ok(Self {
            log: Log::create(path)?,
            seq: AtomicU64::new(0),
        })
    }

    pub fn record(&self, op: &str, ok: bool, user: &str, task: &str, version: i64) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed).to_string();
        let (version, at) = (version.to_string(), epoch_us().to_string());
        let outcome = if ok { "ok" } else { "fail" };
        self.log.line(&[&seq, op, outcome, user, task, &version, &at]);
    }

    pub fn flush(&self) {
        self.log.flush();
    }
}

#[derive(Default)]
struct Interval {
    latencies: Vec<f64>,
    non_2xx: u64,
    transport: u64,
}

/// One operation over the whole run.
#[derive(Default)]
struct OpStats {
    latencies: Vec<f64>,
    non_2xx: u64,
    transport: u64,
}

/// Latency per operation over the run, and per sampling interval over all operations.
#[derive(Default)]
pub struct Stats {
    interval: Mutex<Interval>,
    overall: Mutex<BTreeMap<&'static str, OpStats>>,
    pub events: AtomicU64,
}

/// How a request ended.
pub enum Outcome {
    Ok,
    /// An HTTP answer other than the expected 2xx.
    Status,
    /// No answer (connection refused or reset, timeout).
    Transport,
}

impl Stats {
    pub fn request(&self, op: &'static str, took: Duration, outcome: &Outcome) {
        let took = ms(took);
        {
            let mut i = self.interval.lock().unwrap();
            i.latencies.push(took);
            match outcome {
                Outcome::Ok => {}
                Outcome::Status => i.non_2xx += 1,
                Outcome::Transport => i.transport += 1,
            }
        }
        let mut all = self.overall.lock().unwrap();
        let entry = all.entry(op).or_default();
        entry.latencies.push(took);
        match outcome {
            Outcome::Ok => {}
            Outcome::Status => entry.non_2xx += 1,
            Outcome::Transport => entry.transport += 1,
        }
    }

    /// The interval since the last call, as one JSON sample (and starts the next interval).
    pub fn sample(&self, elapsed_secs: f64, interval_secs: f64) -> Value {
        let mut i = std::mem::take(&mut *self.interval.lock().unwrap());
        i.latencies.sort_by(f64::total_cmp);
        json!({
            "epoch_ms": epoch_us() / 1000,
            "t_secs": r2(elapsed_secs),
            "requests": i.latencies.len(),
            "rps": r2(i.latencies.len() as f64 / interval_secs),
            "non_2xx": i.non_2xx,
            "transport_errors": i.transport,
            "p50_ms": r2(pct(&i.latencies, 0.50)),
            "p99_ms": r2(pct(&i.latencies, 0.99)),
            "events_received": self.events.load(Ordering::Relaxed),
        })
    }

    /// `{op: {count, non_2xx, transport_errors, p50_ms, p99_ms}}` and the totals.
    pub fn summary(&self) -> (Value, u64, u64, u64) {
        let mut all = self.overall.lock().unwrap();
        let (mut count, mut non_2xx, mut transport) = (0, 0, 0);
        let mut ops = serde_json::Map::new();
        for (op, s) in all.iter_mut() {
            s.latencies.sort_by(f64::total_cmp);
            count += s.latencies.len() as u64;
            non_2xx += s.non_2xx;
            transport += s.transport;
            ops.insert(
                (*op).to_owned(),
                json!({
                    "count": s.latencies.len(),
                    "non_2xx": s.non_2xx,
                    "transport_errors": s.transport,
                    "p50_ms": r2(pct(&s.latencies, 0.50)),
                    "p99_ms": r2(pct(&s.latencies, 0.99)),
                }),
            );
        }
        (Value::Object(ops), count, non_2xx, transport)
    }
}
