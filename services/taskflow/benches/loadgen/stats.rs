//! What the subcommands share: percentiles, the seed file, the socket type.

use std::time::Duration;

/// Nearest-rank percentile of sorted values; 0 for none.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Rounds to 0.01 for the JSON report.
pub fn r2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A seeded user: id and bearer token.
#[derive(Clone)]
pub struct SeedUser {
    pub id: String,
    pub token: String,
}

/// The users of a seed file (`U <index> <user id> <token>` lines; `T …` task lines are skipped).
pub fn read_users(path: &str) -> Result<Vec<SeedUser>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            (parts.next()? == "U").then_some(())?;
            let _index = parts.next()?;
            Some(SeedUser {
                id: parts.next()?.to_owned(),
                token: parts.next()?.to_owned(),
            })
        })
        .collect())
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
