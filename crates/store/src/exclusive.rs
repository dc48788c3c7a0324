//! Exclusivity that ends when its holder dies: one outbox relay per scope across processes.
//!
//! Why not a lease row with a TTL (what this replaced): a `kill -9`ed holder keeps a lease until it
//! expires, so events stopped for the whole TTL after a crash; a shorter TTL would let a holder
//! that merely stalls (a long pause, a slow pass) lose the lease while still publishing. Here the
//! lock lives exactly as long as something the operating system or the database tears down with
//! the process:
//! - **PostgreSQL**: a session-level advisory lock (`pg_try_advisory_lock`, key derived from the
//!   name) on a dedicated connection outside the pool. When the process dies its socket closes and
//!   the server releases the lock at once. A holder that stalls keeps its connection, so nobody can
//!   start until it is really gone. A holder cut off from the server treats any error or a slow
//!   answer on that connection as "lost" ([`ExclusiveLock::confirm`]); the server, which notices a
//!   silent peer only through TCP keepalives (set here to at least 16 s of silence), frees the lock
//!   well after the holder has stopped (its passes end [`PASS_BUDGET`]-bounded after a confirm).
//!   The connection must reach PostgreSQL directly or through a session-mode pooler: a
//!   transaction-mode pooler cannot hold session locks.
//! - **SQLite file**: an OS file lock (`flock`) on `<database>.<name>.lock` beside the database,
//!   released by the kernel when the process dies, so a restarted process takes over at once.
//! - **SQLite in memory**: the database lives in this process only; a process-wide set of names.

use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::{self, Connection, PgConnection};

/// How long a holder may keep publishing after its last confirmed check: well under the time the
/// server needs to give up on a silent connection (keepalive idle + interval × count below).
pub const PASS_BUDGET: Duration = Duration::from_secs(5);

/// A lock connection that does not answer within this is treated as lost.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// Server-side keepalives on the lock connection: a holder whose network went away loses the lock
/// after 10 + 2 × 3 = 16 s of silence, long after it stopped publishing.
const KEEPALIVE: [&str; 3] = [
    "SET tcp_keepalives_idle = 10",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
];

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("lock connection failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("lock connection did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("lock file {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("this database connection cannot hold an exclusive lock")]
    Unsupported,
}

pub(crate) enum Target {
    Postgres(Arc<PgConnectOptions>),
    File(PathBuf),
    Memory(String),
    Unsupported,
}

enum Held {
    No,
    Postgres(PgConnection),
    File(File),
    Memory,
}

/// One process's claim on `name`; see the module docs. Not held until [`Self::try_acquire`] says so.
pub struct ExclusiveLock {
    name: String,
    target: Target,
    held: Held,
    /// A waiting contender's connection, reused for its next attempt (no connection churn).
    waiting: Option<PgConnection>,
}

/// Names held by in-memory databases in this process.
static IN_MEMORY: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn in_memory_set<R>(f: impl FnOnce(&mut HashSet<String>) -> R) -> R {
    let mut guard = IN_MEMORY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(guard.get_or_insert_with(HashSet::new))
}

/// A stable 64-bit key for `name` (FNV-1a), the same in every process and version.
pub fn advisory_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "taskflow:".bytes().chain(name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// `<database>.<name>.lock`, with anything but letters, digits, `-` and `_` in `name` replaced.
pub fn lock_file_path(database: &Path, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut file = database.as_os_str().to_owned();
    file.push(format!(".{safe}.lock"));
    PathBuf::from(file)
}

async fn within<T>(future: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, LockError> {
    match tokio::time::timeout(CHECK_TIMEOUT, future).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(LockError::TimedOut(CHECK_TIMEOUT)),
    }
}

/// A session of its own for the lock, outside the pool, with keepalives that notice a dead peer.
async fn connect(options: &PgConnectOptions) -> Result<PgConnection, LockError> {
    let options = options.clone().application_name("taskflow-exclusive-lock");
    let mut conn = within(PgConnection::connect_with(&options)).await?;
    for statement in KEEPALIVE {
        within(sqlx::query(statement).execute(&mut conn)).await?;
    }
    Ok(conn)
}

impl ExclusiveLock {
    pub(crate) fn new(name: &str, target: Target) -> Self {
        Self {
            name: name.to_owned(),
            target,
            held: Held::No,
            waiting: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_held(&self) -> bool {
        !matches!(self.held, Held::No)
    }

    /// Takes the lock if nobody holds it: `true` when this process holds it now (already held:
    /// [`Self::confirm`]s it). `false` while another holder is alive.
    pub async fn try_acquire(&mut self) -> Result<bool, LockError> {
        if self.is_held() {
            self.confirm().await?;
            return Ok(true);
        }
        let held = match &self.target {
            Target::Postgres(options) => {
                let mut conn = match self.waiting.take() {
                    Some(conn) => conn,
                    None => connect(options).await?,
                };
                let key = advisory_key(&self.name);
                let query = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)").bind(key);
                if within(query.fetch_one(&mut conn)).await? {
                    Held::Postgres(conn)
                } else {
                    self.waiting = Some(conn);
                    Held::No
                }
            }
            Target::File(path) => {
                let open = File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(path);
                let error = |source| LockError::File {
                    path: path.clone(),
                    source,
                };
                let file = open.map_err(error)?;
                match file.try_lock() {
                    Ok(()) => Held::File(file),
                    Err(TryLockError::WouldBlock) => Held::No,
                    Err(TryLockError::Error(e)) => return Err(error(e)),
                }
            }
            Target::Memory(key) => {
                if in_memory_set(|set| set.insert(format!("{key}\n{}", self.name))) {
                    Held::Memory
                } else {
                    Held::No
                }
            }
            Target::Unsupported => return Err(LockError::Unsupported),
        };
        self.held = held;
        Ok(self.is_held())
    }

    /// Checks a held lock is still held. An error means it is lost (or may be: the connection
    /// broke or did not answer in time): the holder must stop at once; the lock is dropped here.
    pub async fn confirm(&mut self) -> Result<(), LockError> {
        let Held::Postgres(conn) = &mut self.held else {
            // A file lock or an in-memory claim cannot be taken away while this process lives.
            return Ok(());
        };
        let result = within(sqlx::query("SELECT 1").execute(&mut *conn)).await;
        if result.is_err() {
            // Whatever the session still holds, this process no longer counts on it.
            self.held = Held::No;
        }
        result.map(|_| ())
    }

    /// Gives the lock up at once (graceful shutdown), so another process takes over without waiting.
    pub async fn release(&mut self) {
        self.waiting = None;
        match std::mem::replace(&mut self.held, Held::No) {
            Held::No => {}
            Held::Postgres(mut conn) => {
                let key = advisory_key(&self.name);
                let unlock = sqlx::query("SELECT pg_advisory_unlock($1)").bind(key);
                let _ = within(unlock.execute(&mut conn)).await;
                // Closing the session releases it anyway, should the unlock have failed.
                let _ = tokio::time::timeout(CHECK_TIMEOUT, conn.close()).await;
            }
            Held::File(file) => {
                let _ = file.unlock();
            }
            Held::Memory => {
                if let Target::Memory(key) = &self.target {
                    in_memory_set(|set| set.remove(&format!("{key}\n{}", self.name)));
                }
            }
        }
    }
}

impl Drop for ExclusiveLock {
    /// Dropping a held lock frees it: the connection or file closes; an in-memory claim is removed.
    fn drop(&mut self) {
        if let (Held::Memory, Target::Memory(key)) = (&self.held, &self.target) {
            in_memory_set(|set| set.remove(&format!("{key}\n{}", self.name)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        assert_eq!(advisory_key("outbox-relay"), advisory_key("outbox-relay"));
        assert_ne!(
            advisory_key("outbox-relay"),
            advisory_key("outbox-relay:recurring")
        );
    }

    #[test]
    fn lock_files_sit_beside_the_database() {
        assert_eq!(
            lock_file_path(Path::new("/data/taskflow.db"), "outbox-relay:backend-api"),
            PathBuf::from("/data/taskflow.db.outbox-relay_backend-api.lock")
        );
    }
}
