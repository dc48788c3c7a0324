//! Persistence for TaskFlow: sea-orm entities and the repositories the services use.
//!
//! One code path serves PostgreSQL and SQLite. The few places where the dialects differ (JSON tag
//! containment) are confined to this crate; no handler builds SQL.

mod access_tokens;
mod audit;
mod calendar_feed;
mod conversations;
mod coordination;
pub mod entity;
mod error;
mod event_history;
mod exclusive;
mod idempotency_keys;
mod legacy_users;
mod notifications;
mod outbox;
mod paging;
mod quotas;
mod tasks;
mod users;
mod webhook_deliveries;
mod webhooks;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use taskflow_migration::{Migrator, MigratorTrait};

pub use access_tokens::{AccessToken, AccessTokenRepo, MAX_TOKENS_PER_USER, NewAccessToken, TOUCH_EVERY};
pub use audit::{AuditEntry, AuditFilter, AuditPage, AuditRepo};
pub use calendar_feed::CalendarFeedRepo;
pub use conversations::{
    Conversation, ConversationPage, ConversationRepo, Feedback, Message, MessagePage, NewMessage, PageOrder,
};
pub use coordination::{DeadLetter, DeadLetterRepo, ProcessedEventRepo};
pub use error::StoreError;
pub use event_history::{EventsAfter, PublishedEvent};
pub use exclusive::{ExclusiveLock, LockError, PASS_BUDGET};
pub use idempotency_keys::{Claim, IN_FLIGHT_LEASE, IdempotencyRepo, KEY_TTL, StoredResponse};
pub use notifications::{
    DueReminder, NewNotification, Notification, NotificationFilter, NotificationPage, NotificationRepo,
    PendingEmail,
};
use outbox::OutboxWriter;
pub use outbox::{DEFAULT_SOURCE, OutboxMessage, OutboxRepo, OutboxScope, OutboxSignal, OutboxStats};
pub use quotas::Quotas;
pub use tasks::{
    CursorError, SortBy, SortOrder, StatusFilter, TaskFilter, TaskPage, TaskRepo, TaskStats, UpdateError,
};
pub use users::{NewUser, ProfileChange, User, UserRepo, UserWithPassword};
pub use webhook_deliveries::{
    Attempt, DELIVERED, Delivery, DeliveryPage, DeliveryRepo, DueDelivery, FAILED, PENDING,
};
pub use webhooks::{Webhook, WebhookRepo, WebhookTarget};

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// Connections opened at start and kept: a first request should not pay for a TLS handshake.
    pub min_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            min_connections: 2,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// How the connection pool is used right now (for the `db_pool_*` gauges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, idle or in use.
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

fn pool_stats<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> PoolStats {
    PoolStats {
        open: pool.size(),
        idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
        max: pool.options().get_max_connections(),
    }
}

/// A handle on the database; cheap to clone. Events it writes to the outbox are stamped with the
/// app that writes them ([`DEFAULT_SOURCE`] unless [`Store::publishing_as`] names another).
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    outbox: OutboxWriter,
    quotas: Quotas,
    /// An SQLite database in memory: exclusive locks stay within the process.
    in_memory: bool,
}

impl Store {
    /// Connects to `url` (`postgres://…` or `sqlite://path?mode=rwc`).
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        Self::open(url, options, false).await
    }

    /// Connects and applies pending migrations. On PostgreSQL the migrations run on one connection
    /// while the pool's others open, so a start pays for the slower of the two, not both.
    pub async fn connect_migrated(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        Self::open(url, options, true).await
    }

    async fn open(url: &str, options: &StoreOptions, migrate: bool) -> Result<Self, StoreError> {
        let mut opts = ConnectOptions::new(url.to_owned());
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        opts.max_connections(if in_memory { 1 } else { options.max_connections })
            .min_connections(if in_memory {
                1
            } else {
                options.min_connections.min(options.max_connections)
            })
            .connect_timeout(options.acquire_timeout)
            .acquire_timeout(options.acquire_timeout)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .create_if_missing(true)
            });
        if !url.starts_with("sqlite:") {
            // Every connection is opened here, on the runtime that connects (it outlives the HTTP
            // workers), and kept. A connection opened on demand by an actix worker is bound to
            // that worker's runtime and dies with it: during a graceful shutdown an idle worker
            // stops first, and a request still running on another worker that picks up such a
            // connection failed with 503. (SQLite connections run on threads of their own.)
            //
            // sqlx would open them one after the other before returning (16 TLS + SCRAM handshakes
            // took 0.72 s of every start); the pool is created lazily instead and warmed with
            // concurrent acquisitions, still on this runtime. Its maintenance task keeps it full.
            opts.min_connections(options.max_connections)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_lazy(true);
        }
        let db = Database::connect(opts).await?;
        // On PostgreSQL the pool warms while the migrations run, leaving them one connection when
        // there is more than one; SQLite connections open on demand.
        let warm = if url.starts_with("sqlite:") {
            None
        } else if migrate && options.max_connections > 1 {
            Some(options.max_connections - 1)
        } else {
            Some(options.max_connections)
        };
        let (warmed, migrated) = tokio::join!(
            async {
                match warm {
                    Some(connections) => warm_postgres(&db, connections).await,
                    None => Ok(()),
                }
            },
            async {
                if migrate {
                    Migrator::up(&db, None).await
                } else {
                    Ok(())
                }
            }
        );
        // The warm-up's error says why the server is unreachable; the migration's would not.
        warmed?;
        migrated?;
        Ok(Self {
            db,
            outbox: OutboxWriter {
                source: DEFAULT_SOURCE.into(),
                signal: OutboxSignal::default(),
            },
            quotas: Quotas::default(),
            in_memory,
        })
    }

    /// Checks the database answers; used by `/ready`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await?;
        Ok(())
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// The pool's current use; zeros for a connection that is not a pool.
    pub fn pool_stats(&self) -> PoolStats {
        use sea_orm::DatabaseConnectionType as Kind;
        match &self.db.inner {
            Kind::SqlxPostgresPoolConnection(_) => pool_stats(self.db.get_postgres_connection_pool()),
            Kind::SqlxSqlitePoolConnection(_) => pool_stats(self.db.get_sqlite_connection_pool()),
            #[allow(unreachable_patterns)]
            _ => PoolStats::default(),
        }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn users(&self) -> UserRepo<'_> {
        UserRepo::new(&self.db)
    }

    /// The same database, writing events as `source`: that app's relay publishes them (under Dapr,
    /// through that app's own sidecar, so its events flow while any other service is down).
    pub fn publishing_as(&self, source: &str) -> Self {
        Self {
            db: self.db.clone(),
            outbox: OutboxWriter {
                source: source.into(),
                signal: self.outbox.signal.clone(),
            },
            quotas: self.quotas,
            in_memory: self.in_memory,
        }
    }

    /// The same database, enforcing `quotas` on new tasks, conversations and chat messages.
    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    pub fn quotas(&self) -> Quotas {
        self.quotas
    }

    /// The app this handle's outbox rows are published by.
    pub fn source(&self) -> &str {
        &self.outbox.source
    }

    pub fn tasks(&self) -> TaskRepo<'_> {
        TaskRepo::new(&self.db, &self.outbox, self.quotas)
    }

    pub fn notifications(&self) -> NotificationRepo<'_> {
        NotificationRepo::new(&self.db, &self.outbox)
    }

    pub fn conversations(&self) -> ConversationRepo<'_> {
        ConversationRepo::new(&self.db, self.quotas)
    }

    pub fn audit(&self) -> AuditRepo<'_> {
        AuditRepo::new(&self.db)
    }

    pub fn outbox(&self) -> OutboxRepo<'_> {
        OutboxRepo::new(&self.db)
    }

    /// Fires after every commit that added outbox rows in this process.
    pub fn outbox_signal(&self) -> &OutboxSignal {
        &self.outbox.signal
    }

    /// The lock that makes its holder the only process doing `name` (one relay per scope); it ends
    /// when the holder releases it or dies. See [`ExclusiveLock`].
    pub fn exclusive_lock(&self, name: &str) -> ExclusiveLock {
        use exclusive::Target;
        use sea_orm::DatabaseConnectionType as Kind;
        let target = match &self.db.inner {
            Kind::SqlxPostgresPoolConnection(_) => {
                Target::Postgres(self.db.get_postgres_connection_pool().connect_options())
            }
            Kind::SqlxSqlitePoolConnection(_) => {
                let options = self.db.get_sqlite_connection_pool().connect_options();
                let file = options.get_filename();
                if self.in_memory {
                    Target::Memory(file.to_string_lossy().into_owned())
                } else {
                    Target::File(exclusive::lock_file_path(file, name))
                }
            }
            #[allow(unreachable_patterns)]
            _ => Target::Unsupported,
        };
        ExclusiveLock::new(name, target)
    }

    pub fn processed_events(&self) -> ProcessedEventRepo<'_> {
        ProcessedEventRepo::new(&self.db)
    }

    pub fn dead_letters(&self) -> DeadLetterRepo<'_> {
        DeadLetterRepo::new(&self.db)
    }

    /// The calendar feed tokens (their hashes).
    pub fn calendar_feed(&self) -> CalendarFeedRepo<'_> {
        CalendarFeedRepo::new(&self.db)
    }

    /// Users' webhook endpoints, limited by [`Quotas::webhooks`].
    pub fn webhooks(&self) -> WebhookRepo<'_> {
        WebhookRepo::new(&self.db, self.quotas)
    }

    /// The webhook delivery queue and log.
    pub fn webhook_deliveries(&self) -> DeliveryRepo<'_> {
        DeliveryRepo::new(&self.db)
    }

    /// The `Idempotency-Key` markers and stored responses.
    pub fn idempotency_keys(&self) -> IdempotencyRepo<'_> {
        IdempotencyRepo::new(&self.db)
    }

    pub fn access_tokens(&self) -> AccessTokenRepo<'_> {
        AccessTokenRepo::new(&self.db)
    }

    /// Closes the pool at shutdown, once the connections in use are returned: each connection ends
    /// with the protocol's goodbye (PostgreSQL's `Terminate`), so the server sees a client leave, not
    /// a lost connection; SQLite checkpoints its log. A failure is logged here, and only here.
    pub async fn close(self) {
        match self.db.close().await {
            Ok(()) => tracing::debug!("database pool closed"),
            Err(e) => tracing::warn!(error = %e, "closing the database pool failed"),
        }
    }
}

/// Opens `connections` PostgreSQL connections at once (each acquisition that finds no idle
/// connection opens one) and returns them to the pool; the first failure (wrong address, password,
/// database) is the caller's error, as an eager connect's would be.
async fn warm_postgres(db: &DatabaseConnection, connections: u32) -> Result<(), StoreError> {
    let pool = db.get_postgres_connection_pool().clone();
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let pool = pool.clone();
        opening.spawn(async move { pool.acquire().await });
    }
    let mut held = Vec::new();
    while let Some(joined) = opening.join_next().await {
        let acquired = joined
            .map_err(|e| StoreError::Database(sea_orm::DbErr::Custom(format!("warming the pool: {e}"))))?;
        match acquired {
            Ok(connection) => held.push(connection),
            Err(e) => return Err(connection_error(why_unreachable(&pool, e).await)),
        }
    }
    drop(held);
    Ok(())
}

/// A pool retries a refused connection until its timeout and then only says "timed out": one
/// direct attempt tells the operator why (refused, unknown host, TLS).
async fn why_unreachable(pool: &sea_orm::sqlx::PgPool, error: sea_orm::sqlx::Error) -> sea_orm::sqlx::Error {
    use sea_orm::sqlx::Connection;
    if !matches!(error, sea_orm::sqlx::Error::PoolTimedOut) {
        return error;
    }
    match sea_orm::sqlx::PgConnection::connect_with(&pool.connect_options()).await {
        Err(cause) => cause,
        Ok(connection) => {
            let _ = connection.close().await;
            error
        }
    }
}

fn connection_error(error: sea_orm::sqlx::Error) -> StoreError {
    StoreError::from(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(
        std::sync::Arc::new(error),
    )))
}

/// Runs a statement-free query to check the backend is of a kind this crate supports.
pub(crate) fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}
