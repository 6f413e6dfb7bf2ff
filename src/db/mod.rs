//! Databases: one connection type over SQLite and PostgreSQL, the pool, migrations and the
//! write-transaction helper every change goes through.

pub mod backup;
pub mod changes;
pub mod explain;
pub mod fixed;
pub mod raw;
pub mod schema;
pub mod transport;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use diesel::connection::{
    AnsiTransactionManager, InstrumentationEvent, SimpleConnection, TransactionManager,
};
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::result::{ConnectionError, Error as DieselError};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::AppError;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to whichever backend the URL names. Queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// The connection pool, and what it knows of the database's health.
#[derive(Clone)]
pub struct Pool {
    connections: r2d2::Pool<DbManager>,
    health: std::sync::Arc<Health>,
    queries: std::sync::Arc<AtomicU64>,
    commits: std::sync::Arc<AtomicU64>,
    /// When the last read of other instances' announced changes that this instance applied
    /// began, in microseconds of its clock (`i64::MIN`: never): see [`CacheClock`].
    changes_seen_from: std::sync::Arc<AtomicI64>,
    /// Every write transaction, counted or not (the live pages' cue to look again).
    writes: std::sync::Arc<AtomicU64>,
    clock: crate::core::clock::Clock,
    /// One permit a connection: work waits for a lane as a task, before it takes a thread.
    lanes: std::sync::Arc<tokio::sync::Semaphore>,
    /// Write work waits here before it takes a lane (`run_write`).
    writers: std::sync::Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for Pool {
    type Target = r2d2::Pool<DbManager>;

    fn deref(&self) -> &Self::Target {
        &self.connections
    }
}
pub type PooledConnection = r2d2::PooledConnection<DbManager>;

/// A condition built at run time for a query from `QS` (a table or a join), on either
/// database: the visibility rule, a list's filters.
pub type BoxedCondition<QS> = Box<
    dyn diesel::expression::BoxableExpression<QS, MultiBackend, SqlType = diesel::sql_types::Bool>,
>;

/// What a cache of database state (sessions, scopes, channels) compares an entry against:
/// taken when the entry is read, and again whenever it would serve (`auth::session_cache`'s
/// `ReadStamp` holds the rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheClock {
    /// The instance's clock.
    pub at: chrono::NaiveDateTime,
    /// `Pool::commits()`: this instance's counted commits and the announced changes of others
    /// that retired everything.
    pub commits: u64,
    /// When the last read of announced changes that this instance applied began: every change
    /// committed before it has reached the caches. `None` until the first (the watch does not
    /// run, or the database did not answer it).
    pub changes_seen_from: Option<chrono::NaiveDateTime>,
}

/// A connection as the pool keeps it: with the moment it last came back from work that went
/// well, so that the pool asks the database whether it is still there only when it has not
/// heard from it for a while ([`CHECKED_RECENTLY`]).
pub struct Pooled {
    conn: DbConnection,
    returned_well: Option<std::time::Instant>,
}

/// A connection back from successful work this recently is handed out again without a ping:
/// the ping is a round trip of its own, a fifth of a page's time on PostgreSQL. What the
/// window lets through is a connection the database dropped in the last half second; the
/// work on it fails as the ping would have (503), and the pool closes it: diesel marks a
/// PostgreSQL connection that lost its server broken, and `on_a_thread` closes any connection
/// whose work the database failed. HikariCP's `aliveBypassWindowMs` is the same rule, with
/// the same half second.
pub const CHECKED_RECENTLY: Duration = Duration::from_millis(500);

impl Pooled {
    /// Whether the pool may hand this connection out without pinging it first.
    fn checked_recently(&self, now: std::time::Instant) -> bool {
        self.returned_well
            .is_some_and(|at| now.saturating_duration_since(at) < CHECKED_RECENTLY)
    }
}

impl std::ops::Deref for Pooled {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// A second connection for work already on a lane (`Pool::spare`), holding a lane of its own
/// so that `run`'s lanes never outnumber the connections.
pub struct Spare {
    // declared first, dropped first: the connection is back in the pool before its lane opens
    conn: PooledConnection,
    _lane: tokio::sync::OwnedSemaphorePermit,
}

impl std::ops::Deref for Spare {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Spare {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// Where the data lives, parsed from `--database` / `SWITCHBOARD_DATABASE_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file path (`sqlite://switchboard.db` → `switchboard.db`, `sqlite:///tmp/x.db` → `/tmp/x.db`).
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_string()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                format!(
                    "unsupported database URL '{}': use sqlite://PATH or postgres://…",
                    redact(url)
                )
            })?;
        if path.is_empty() {
            return Err("the SQLite database URL names no file (sqlite://PATH)".into());
        }
        Ok(Self::Sqlite(path.to_string()))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "SQLite",
            Self::Postgres(_) => "PostgreSQL",
        }
    }

    /// The URL without any password, for logs and error lines.
    pub fn display(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{path}"),
            Self::Postgres(url) => redact(url),
        }
    }
}

fn redact(url: &str) -> String {
    // postgres://user:secret@host/db → postgres://user:***@host/db
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Opens connections of the configured backend only: never falls back to another backend.
#[derive(Clone, Debug)]
pub struct DbManager {
    url: DatabaseUrl,
    /// Connections that serve requests get a statement timeout; the command line's do not
    /// (a migration may take long).
    serving: bool,
    health: std::sync::Arc<Health>,
    /// Statements run on this manager's connections (the pool's `queries_run`).
    queries: std::sync::Arc<AtomicU64>,
}

/// Whether the database answered the last attempt to connect: while it does not, requests
/// are answered 503 at once instead of each waiting out the pool's checkout timeout.
#[derive(Debug, Default)]
pub struct Health {
    last_failure_ms: AtomicI64,
    last_success_ms: AtomicI64,
}

/// How long a failed connection attempt makes requests fail fast; then one request waits
/// for a connection again (and a success ends it at once).
const FAIL_FAST_MS: i64 = 1000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Health {
    fn connected(&self, ok: bool) {
        let field = if ok {
            &self.last_success_ms
        } else {
            &self.last_failure_ms
        };
        field.store(now_ms(), Ordering::Relaxed);
    }

    /// The last attempt to connect failed, a moment ago.
    pub fn is_down(&self) -> bool {
        let failed = self.last_failure_ms.load(Ordering::Relaxed);
        failed > self.last_success_ms.load(Ordering::Relaxed) && now_ms() - failed < FAIL_FAST_MS
    }
}

/// libpq settings that make a PostgreSQL outage show quickly: a connect timeout, TCP
/// keepalives and a user timeout, unless the URL sets them itself.
fn with_network_timeouts(url: &str) -> String {
    let mut url = url.to_string();
    for (key, value) in [
        ("connect_timeout", "3"),
        ("keepalives", "1"),
        ("keepalives_idle", "10"),
        ("keepalives_interval", "5"),
        ("keepalives_count", "3"),
        ("tcp_user_timeout", "10000"),
    ] {
        if !url.contains(&format!("{key}=")) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{key}={value}"));
        }
    }
    url
}

impl DbManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self {
            url,
            serving: false,
            health: std::sync::Arc::default(),
            queries: std::sync::Arc::default(),
        }
    }

    pub fn connect_once(&self) -> Result<DbConnection, ConnectionError> {
        let mut connected = self.open();
        self.health.connected(connected.is_ok());
        if let Ok(conn) = &mut connected {
            // one relaxed increment a statement: what the tests read to prove a page's
            // queries do not grow with its rows
            let queries = self.queries.clone();
            // never logs the statement: its binds hold contact details, password hashes and
            // token hashes, which no log may carry
            conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
                if matches!(event, InstrumentationEvent::StartQuery { .. })
                    && !CHECKING_CONNECTION.with(std::cell::Cell::get)
                {
                    queries.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        connected
    }

    fn open(&self) -> Result<DbConnection, ConnectionError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(&with_network_timeouts(url))?;
                // a statement that runs this long is stuck: free the connection
                let setup = if self.serving {
                    "SET TIME ZONE 'UTC'; SET statement_timeout = '30s'"
                } else {
                    "SET TIME ZONE 'UTC'"
                };
                conn.batch_execute(setup)
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Postgres(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                // a serving connection opens the file that is there and never makes a new,
                // empty one (the file moved or deleted under a running panel; a pool topping
                // itself up after its database was removed)
                let mut conn = if self.serving {
                    SqliteConnection::establish(&existing_file_uri(path))?
                } else {
                    SqliteConnection::establish(path)?
                };
                // WAL lets readers run beside the writer; the busy timeout makes a second writer
                // wait for the first instead of failing.
                conn.batch_execute("PRAGMA busy_timeout = 10000;")
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                // searches compare letters beyond ASCII through it
                search::register_fold_case(&mut conn)
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                wal_mode(&mut conn).map_err(ConnectionError::CouldntSetupConfiguration)?;
                // mmap: the file's first GiB is read through the operating system's page cache,
                // shared by every connection, instead of being copied into each connection's own
                // 2 MB cache (at a million messages, two connections copying pages at once ran
                // a report's two lanes slower than one; with it, 1.7 times faster)
                conn.batch_execute(
                    "PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA mmap_size = 1073741824;",
                )
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                if self.serving {
                    // SQLite opens a read-only file read-only, silently, and such a connection
                    // stays read-only after the file is writable again: refuse it, so that the
                    // pool only ever holds connections that can write
                    accepts_writes(&mut conn)
                        .map_err(ConnectionError::CouldntSetupConfiguration)?;
                }
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// Switches a SQLite connection to WAL. Several processes opening a new file at once (instances
/// started together) can find it locked while another one switches it: SQLite answers "database
/// is locked" at once here, without waiting on the busy timeout, so the switch is tried again
/// for up to ten seconds.
fn wal_mode(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match conn.batch_execute("PRAGMA journal_mode = WAL;") {
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("locked") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            done => return done,
        }
    }
}

/// A SQLite URI that opens `path` for reading and writing only if the file exists.
fn existing_file_uri(path: &str) -> String {
    let escaped = path
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    format!("file:{escaped}?mode=rw")
}

impl ManageConnection for DbManager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let conn = self.connect_once().map_err(r2d2::Error::ConnectionError)?;
        Ok(Pooled {
            conn,
            returned_well: None,
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), r2d2::Error> {
        if pooled.checked_recently(std::time::Instant::now()) {
            return Ok(());
        }
        // the pool's check of a connection it hands out is no statement of the work: left
        // out of the count, so that a page's count does not depend on how many connections
        // it took (a report takes a second one when one is idle)
        CHECKING_CONNECTION.with(|checking| checking.set(true));
        let pinged = pooled.conn.ping().map_err(r2d2::Error::QueryError);
        CHECKING_CONNECTION.with(|checking| checking.set(false));
        pinged
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        let broken =
            DISCARD_ON_RETURN.with(|discard| discard.replace(false)) || pooled.conn.is_broken();
        pooled.returned_well = (!broken).then(std::time::Instant::now);
        broken
    }
}

thread_local! {
    /// Set while the pool checks a connection it hands out (`is_valid`): the statement
    /// counter leaves that check out.
    static CHECKING_CONNECTION: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Set by `run` when its work found the connection read-only: SQLite opens a connection
    /// read-only while its file is, and keeps it so after the file is writable again. The pool
    /// asks `has_broken` as the connection comes back on this thread, and closes it.
    static DISCARD_ON_RETURN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// One connection, for the command line: no pool threads to outlive `main`.
pub fn connect_single(url: &DatabaseUrl) -> anyhow::Result<DbConnection> {
    DbManager::new(url.clone()).connect_once().with_context(|| {
        format!(
            "cannot connect to the {} database at {}",
            url.backend_name(),
            url.display(),
        )
    })
}

/// Builds the pool and checks that the database answers (fails within a few seconds if not).
pub fn connect(url: &DatabaseUrl) -> anyhow::Result<Pool> {
    let manager = DbManager {
        serving: true,
        ..DbManager::new(url.clone())
    };
    let health = manager.health.clone();
    let queries = manager.queries.clone();
    // An unreachable database should say so at once, with the driver's reason.
    drop(connect_single(url)?);
    let max_size = match url {
        DatabaseUrl::Sqlite(_) => 8,
        DatabaseUrl::Postgres(_) => 12,
    };
    let connections = r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(5))
        .build(manager)
        .with_context(|| format!("cannot open a connection pool to {}", url.display()))?;
    // SQLite has one writer at a time: more would sleep in its busy handler (backing off up
    // to 100 ms), each holding a lane; PostgreSQL writers run side by side, leaving half the
    // lanes to readers
    let writers = match url {
        DatabaseUrl::Sqlite(_) => 1,
        DatabaseUrl::Postgres(_) => max_size as usize / 2,
    };
    Ok(Pool {
        connections,
        health,
        queries,
        commits: Default::default(),
        changes_seen_from: std::sync::Arc::new(AtomicI64::new(i64::MIN)),
        writes: Default::default(),
        clock: Default::default(),
        lanes: std::sync::Arc::new(tokio::sync::Semaphore::new(max_size as usize)),
        writers: std::sync::Arc::new(tokio::sync::Semaphore::new(writers)),
    })
}

/// Applies every pending migration of the connection's dialect.
///
/// Instances started together on one database take turns: on PostgreSQL behind a session
/// advisory lock, on SQLite inside one IMMEDIATE transaction (the file's write lock). The
/// second finds nothing pending instead of failing on what the first applied.
pub fn migrate(conn: &mut DbConnection) -> anyhow::Result<usize> {
    match conn {
        DbConnection::Sqlite(c) => c.immediate_transaction(|c| {
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.len())
                .map_err(|err| anyhow::anyhow!("migrations failed: {err}"))
        }),
        DbConnection::Postgres(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .context("cannot take the migration lock")?;
            let applied = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len())
                .map_err(|err| anyhow::anyhow!("migrations failed: {err}"));
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .context("cannot release the migration lock")?;
            applied
        }
    }
}

/// Reverts the most recent migration (its `down.sql`): for an operator rolling a release back,
/// and for the tests that show a migration carries old data forward.
pub fn revert_last_migration(conn: &mut DbConnection) -> anyhow::Result<String> {
    let reverted = match conn {
        DbConnection::Sqlite(c) => c.revert_last_migration(SQLITE_MIGRATIONS),
        DbConnection::Postgres(c) => c.revert_last_migration(POSTGRES_MIGRATIONS),
    };
    reverted
        .map(|version| version.to_string())
        .map_err(|err| anyhow::anyhow!("cannot revert the last migration: {err}"))
}

/// The advisory-lock key migrations hold on PostgreSQL ("SWBDMIGR" as a number).
const MIGRATION_LOCK: i64 = 0x5357_4244_4d49_4752;

/// Runs database work on a blocking thread with a pooled connection: the one way async code
/// (handlers, the guard, the session store) reaches the database.
///
/// The work first waits for a lane (one per connection) as a task, in arrival order: a burst
/// of requests (a sign-in storm) queues there instead of parking a thread apiece on the pool,
/// and a page that arrives during it waits its turn rather than losing a race for the next
/// free connection.
pub async fn run<T, F>(pool: &Pool, work: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
{
    let _lane = wait_for(pool, &pool.lanes).await?;
    on_a_thread(pool, work).await
}

/// `run` for work that writes (a write transaction): it waits for the writers' turn first.
/// On SQLite one writer goes at a time, so writers queue here as tasks, fairly, instead of
/// holding connections while SQLite's busy handler makes them sleep; the pages' reads keep
/// the other lanes.
pub async fn run_write<T, F>(pool: &Pool, work: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
{
    let _turn = wait_for(pool, &pool.writers).await?;
    run(pool, work).await
}

/// A change in one write transaction (`write_transaction`), in the writers' turn (`run_write`).
pub async fn write<T, F>(pool: &Pool, change: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
{
    run_write(pool, move |conn| write_transaction(conn, change)).await
}

/// `write_transaction_seen_when` in the writers' turn: sign-in attempts.
pub async fn write_seen_when<T, F, S>(pool: &Pool, change: F, shown: S) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    S: FnOnce(&T) -> bool + Send + 'static,
{
    run_write(pool, move |conn| {
        write_transaction_seen_when(conn, change, shown)
    })
    .await
}

/// `write` for changes to no session, user, role, company or channel row, nothing a cache
/// holds (`write_transaction_outside_sessions`): notification e-mail, broadcasts.
/// Such writes do not retire the caches of this or any instance (sign-in attempts, which anyone
/// who can reach the sign-in page can make, go through `write_seen_when`).
pub async fn write_outside_sessions<T, F>(pool: &Pool, change: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
{
    run_write(pool, move |conn| {
        write_transaction_outside_sessions(conn, change)
    })
    .await
}

/// A permit of `gate`: at once while the database is down and every permit is taken (503, as
/// `checkout` answers then), else within the pool's checkout time.
async fn wait_for<'a>(
    pool: &Pool,
    gate: &'a tokio::sync::Semaphore,
) -> Result<tokio::sync::SemaphorePermit<'a>, AppError> {
    let busy = || AppError::unavailable("the database does not answer");
    if let Ok(permit) = gate.try_acquire() {
        return Ok(permit);
    }
    if pool.health.is_down() {
        return Err(busy());
    }
    match actix_web::rt::time::timeout(Duration::from_secs(5), gate.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(busy()),
    }
}

async fn on_a_thread<T, F>(pool: &Pool, work: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let waiting = std::time::Instant::now();
        let mut conn = checkout(&pool)?;
        metrics::histogram!("switchboard_db_pool_checkout_seconds")
            .record(waiting.elapsed().as_secs_f64());
        let _counting = CountingCommits::of(&pool);
        let _clock = pool.clock.run_here();
        let done = work(&mut conn);
        // a connection whose work the database failed (it went away, or SQLite keeps this
        // connection read-only) is closed as it comes back, never handed out again unchecked
        if done.as_ref().is_err_and(AppError::is_database_failure) {
            DISCARD_ON_RETURN.with(|discard| discard.set(true));
        }
        done
    })
    .await?
}

impl Pool {
    /// Write transactions committed through this pool (by `run`'s work): caches of database
    /// state (the session cache) compare it to tell whether anything may have changed since
    /// they read. Per pool, not per process, so instances (and tests) that share a process
    /// retire only their own caches.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Acquire)
    }

    /// What the caches of database state compare their entries against, taken now.
    pub fn cache_clock(&self) -> CacheClock {
        // the watch applies what it read before it records when the read began (Release):
        // whoever sees that moment sees the commits counter it moved (Acquire, read first)
        let seen_from = self.changes_seen_from.load(Ordering::Acquire);
        CacheClock {
            at: self.clock.now(),
            commits: self.commits(),
            changes_seen_from: (seen_from != i64::MIN)
                .then(|| chrono::DateTime::from_timestamp_micros(seen_from))
                .flatten()
                .map(|at| at.naive_utc()),
        }
    }

    /// Another instance announced that anything may have changed: every cached entry of this
    /// instance is retired, as after a commit of its own.
    pub fn retire_cached(&self) {
        self.commits.fetch_add(1, Ordering::AcqRel);
    }

    /// Every change announced before `began` has been applied to this instance's caches
    /// (`auth::change_watch`, after it applied a read that began then).
    pub fn changes_seen_from(&self, began: chrono::NaiveDateTime) {
        self.changes_seen_from
            .store(began.and_utc().timestamp_micros(), Ordering::Release);
    }

    /// Every write transaction committed through this pool, those that leave the session
    /// cache alone included: the live pages answer "nothing new" while it stands still.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// A connection the pool has idle at this moment, with its lane, without waiting for
    /// either or opening one: for work that can use a second lane when there is room and does
    /// without otherwise (a report's queries). `None` while the database is down.
    pub fn spare(&self) -> Option<Spare> {
        if self.health.is_down() {
            return None;
        }
        let lane = self.lanes.clone().try_acquire_owned().ok()?;
        Some(Spare {
            conn: self.connections.try_get()?,
            _lane: lane,
        })
    }

    /// Statements run on the pool's connections since it opened.
    pub fn queries_run(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// This instance's time: what `domain::now()` reads inside `run`'s work.
    pub fn clock(&self) -> &crate::core::clock::Clock {
        &self.clock
    }
}

thread_local! {
    /// The commit counter of the pool whose work this thread is running (set by `run`).
    static COMMITS_OF_RUNNING_WORK: std::cell::RefCell<Option<std::sync::Arc<AtomicU64>>> =
        const { std::cell::RefCell::new(None) };
    static WRITES_OF_RUNNING_WORK: std::cell::RefCell<Option<std::sync::Arc<AtomicU64>>> =
        const { std::cell::RefCell::new(None) };
}

/// Names the pool's commit counter for the work running on this thread, until dropped.
struct CountingCommits;

impl CountingCommits {
    fn of(pool: &Pool) -> Self {
        COMMITS_OF_RUNNING_WORK.with(|counter| *counter.borrow_mut() = Some(pool.commits.clone()));
        WRITES_OF_RUNNING_WORK.with(|counter| *counter.borrow_mut() = Some(pool.writes.clone()));
        Self
    }
}

impl Drop for CountingCommits {
    fn drop(&mut self) {
        COMMITS_OF_RUNNING_WORK.with(|counter| *counter.borrow_mut() = None);
        WRITES_OF_RUNNING_WORK.with(|counter| *counter.borrow_mut() = None);
    }
}

fn count_write() {
    WRITES_OF_RUNNING_WORK.with(|counter| {
        if let Some(writes) = counter.borrow().as_ref() {
            writes.fetch_add(1, Ordering::AcqRel);
        }
    });
}

fn count_commit() {
    COMMITS_OF_RUNNING_WORK.with(|counter| {
        if let Some(commits) = counter.borrow().as_ref() {
            commits.fetch_add(1, Ordering::AcqRel);
        }
    });
}

/// Runs `change` in one transaction. On SQLite it begins IMMEDIATE, taking the write lock up
/// front, so two writers queue on the busy timeout instead of one failing with "database is
/// locked" when it upgrades a read lock.
pub fn write_transaction<T, F>(conn: &mut DbConnection, change: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError>,
{
    transaction(conn, change, Counted::CommitsAndWrites)
}

/// `write_transaction` for writes that change no session, user, role or company row (inbound
/// messages, the agents' work on conversations and call tasks): they leave the session cache
/// as it is, so a busy inbox does not empty it for everyone. Anything else uses
/// `write_transaction` (or, for what no page shows, `write_transaction_seen_when`).
pub fn write_transaction_outside_sessions<T, F>(
    conn: &mut DbConnection,
    change: F,
) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError>,
{
    transaction(conn, change, Counted::Writes)
}

/// `write_transaction` for a change to one session's own state (its start, its flash
/// messages, its end at sign-out) and the announcement that tells the other instances: it
/// retires no cache and is not counted among the writes, so showing someone a message does not
/// make every open live page look again (they show conversations, not sessions).
pub fn session_transaction<T, F>(conn: &mut DbConnection, change: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError>,
{
    transaction(conn, change, Counted::Nothing)
}

/// `write_transaction` for writes that no page shows live and no cache holds (a refused
/// request's count, a sign-in attempt, e-mail delivery), as long as `shown` says so of what
/// the change returned: they move neither counter, so that a stream of them — which anyone
/// who reaches the sign-in page, or anyone signed in, can send — neither empties the inbox
/// caches nor makes every open live page read again. A change `shown` owns up to (a sign-in
/// whose person, coming online, is routed queued chats) moves the write counter as
/// `write_transaction_outside_sessions` does.
pub fn write_transaction_seen_when<T, F, S>(
    conn: &mut DbConnection,
    change: F,
    shown: S,
) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError>,
    S: FnOnce(&T) -> bool,
{
    transaction_counted_by(conn, change, |value| {
        if shown(value) {
            Counted::Writes
        } else {
            Counted::Nothing
        }
    })
}

/// What a write transaction that wrote moves: the commit counter (which retires this
/// instance's caches, and is announced to the others), the write counter (the live pages'
/// cue), or neither.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counted {
    CommitsAndWrites,
    Writes,
    Nothing,
}

fn transaction<T, F>(conn: &mut DbConnection, change: F, counted: Counted) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError>,
{
    transaction_counted_by(conn, change, |_| counted)
}

/// `transaction`, with what it moves decided by what the change returned.
fn transaction_counted_by<T, F, C>(
    conn: &mut DbConnection,
    change: F,
    counted_by: C,
) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError>,
    C: FnOnce(&T) -> Counted,
{
    let changes_before = match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            sqlite_total_changes(c)
        }
        DbConnection::Postgres(c) => {
            AnsiTransactionManager::begin_transaction(c)?;
            None
        }
    };
    // a counted change tells the other instances, as its last statement (`changes`)
    let outcome = change(conn).and_then(|value| {
        let counted = counted_by(&value);
        let wrote = wrote_anything(conn, changes_before);
        if wrote && counted == Counted::CommitsAndWrites {
            changes::announce(conn, &changes::Changed::Anything)?;
        }
        Ok((value, wrote, counted))
    });
    match outcome {
        Ok((value, wrote, counted)) => {
            let committed =
                <DbConnection as Connection>::TransactionManager::commit_transaction(conn);
            // counted even when the commit reports an error: it may have happened
            if wrote {
                if counted == Counted::CommitsAndWrites {
                    count_commit();
                }
                if counted != Counted::Nothing {
                    count_write();
                }
            }
            committed?;
            Ok(value)
        }
        Err(err) => {
            match <DbConnection as Connection>::TransactionManager::rollback_transaction(conn) {
                Ok(()) | Err(DieselError::BrokenTransactionManager) => Err(err),
                Err(rollback) => Err(rollback.into()),
            }
        }
    }
}

/// Rows this SQLite connection has inserted, updated or deleted since it opened (triggers'
/// included); `None` when it cannot say.
fn sqlite_total_changes(conn: &mut SqliteConnection) -> Option<i64> {
    use diesel::RunQueryDsl;
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "total_changes()",
    ))
    .get_result(conn)
    .ok()
}

/// Whether the open transaction changed anything. A transaction that only looked (a job
/// finding nothing due) must not move the commit and write counters: each move retires every
/// cached session and makes every open live page render itself again. When in doubt, yes.
fn wrote_anything(conn: &mut DbConnection, sqlite_changes_before: Option<i64>) -> bool {
    use diesel::RunQueryDsl;
    match conn {
        DbConnection::Sqlite(c) => match (sqlite_changes_before, sqlite_total_changes(c)) {
            (Some(before), Some(after)) => after != before,
            _ => true,
        },
        // PostgreSQL gives a transaction an id only when it writes (or locks rows)
        DbConnection::Postgres(c) => diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "txid_current_if_assigned() IS NOT NULL",
        ))
        .get_result(c)
        .unwrap_or(true),
    }
}

/// Keeps the query planner's statistics current. SQLite has no autovacuum to do it: without
/// statistics the navigation's count picked the wrong index on a large database (~5 ms added
/// to every page). `analysis_limit` bounds the work to a sample, so this takes milliseconds
/// however large the tables; PostgreSQL's autovacuum does the same on its own.
pub fn optimize(conn: &mut DbConnection) -> Result<(), AppError> {
    if let DbConnection::Sqlite(c) = conn {
        c.batch_execute("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;")?;
    }
    Ok(())
}

/// Whether the linked SQLite keeps a statement's plan whatever values are bound to it: the query
/// planner stability guarantee, switched on for the bundled SQLite in `.cargo/config.toml`.
/// Without it SQLite plans every statement with a bound `LIMIT` again on each use, and diesel's
/// statement cache saves nothing (a third of the inbox's CPU went to it). PostgreSQL: always.
pub fn plans_are_stable(conn: &mut DbConnection) -> Result<bool, AppError> {
    #[derive(diesel::QueryableByName)]
    struct CompileOption {
        #[diesel(sql_type = diesel::sql_types::Text)]
        compile_options: String,
    }
    match conn {
        DbConnection::Sqlite(c) => {
            let options: Vec<CompileOption> =
                diesel::RunQueryDsl::load(diesel::sql_query("PRAGMA compile_options"), c)?;
            Ok(options.iter().any(|o| o.compile_options == "ENABLE_QPSG"))
        }
        DbConnection::Postgres(_) => Ok(true),
    }
}

/// `table` narrowed to one record of one company. Every lookup of a record by an id that came
/// from a request goes through it, so another company's id finds nothing (404).
macro_rules! one_of_company {
    ($table:ident, $id:expr, $company_id:expr) => {
        $table::table
            .filter($table::id.eq($id))
            .filter($table::company_id.eq($company_id))
    };
}
pub(crate) use one_of_company;

/// What a rule that must hold under concurrency serialises on (see `serialize`).
#[derive(Clone, Copy, Debug)]
#[repr(i32)]
pub enum LockSpace {
    /// Sign-in checks of one client address.
    Address = 2,
    /// Changes that could leave a company without an active supervisor.
    Supervisors = 3,
    /// One user's contact reveals (the daily cap).
    Reveals = 4,
    /// Inbound deliveries from one contact (one contact, one open conversation per channel).
    Contact = 5,
    /// Routing decisions of one company (capacity holds under concurrent deliveries).
    Routing = 6,
    /// The batches of one broadcast (one instance writes a batch at a time; and a cancel
    /// waits for the batch in progress).
    Broadcast = 7,
    /// Raises of one role (one waiting request per role).
    RoleRaise = 8,
    /// Changes of one company's security settings (one waiting request per company).
    Settings = 9,
    /// One company's access reviews (one open at a time).
    Reviews = 10,
}

/// Serialises the rest of the caller's write transaction with every other transaction that
/// names the same key in the same space, so a rule checked by reading ("at most N", "at least
/// one", "only one") still holds when requests race. PostgreSQL: a transaction-scoped advisory
/// lock (released at commit or rollback; shared by every instance). SQLite: nothing to do, its
/// write transactions begin IMMEDIATE and already run one at a time.
pub fn serialize(conn: &mut DbConnection, space: LockSpace, key: &str) -> Result<(), AppError> {
    if let DbConnection::Postgres(pg) = conn {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind::<diesel::sql_types::Integer, _>(space as i32)
            .bind::<diesel::sql_types::Text, _>(key)
            .execute(pg)?;
    }
    Ok(())
}

/// The secret that signs session cookies: made once, kept in the database so every instance
/// behind a load balancer shares it.
pub fn cookie_secret(conn: &mut DbConnection) -> Result<Vec<u8>, AppError> {
    use diesel::prelude::*;
    use schema::app_secrets::dsl::*;
    let generated = crate::core::secrets::random_hex(64);
    // Two instances starting at once: one insert wins, the other's fails and both read the winner.
    let _ = diesel::insert_into(app_secrets)
        .values((name.eq("cookie_key"), value.eq(&generated)))
        .execute(conn);
    let stored: String = app_secrets
        .filter(name.eq("cookie_key"))
        .select(value)
        .first(conn)?;
    hex::decode(stored)
        .map_err(|err| AppError::internal_from("the stored cookie key is not hex", err))
}

/// True when the database answers a trivial query and, on SQLite, accepts writes (for
/// `/readyz`: a read-only file serves no change). It does not queue for the writers' turn: a
/// probe must answer while a burst of writes waits there (its one-value write waits on
/// SQLite's busy handler instead, for a writer or two).
pub async fn ready(pool: &Pool) -> bool {
    // a failure is the work's error, not a `false` answer: the pool then closes the
    // connection instead of keeping it as one that answered a moment ago
    run(pool, |conn| {
        match conn {
            DbConnection::Sqlite(c) => accepts_writes(c)?,
            DbConnection::Postgres(c) => diesel::r2d2::R2D2Connection::ping(c)?,
        }
        Ok(())
    })
    .await
    .is_ok()
}

/// Writes the one value every SQLite file has (`user_version`, which this project leaves at
/// 0 and only rewrites) back unchanged: fails when the file or this connection is read-only.
fn accepts_writes(conn: &mut SqliteConnection) -> Result<(), DieselError> {
    #[derive(diesel::QueryableByName)]
    struct UserVersion {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        user_version: i32,
    }
    use diesel::RunQueryDsl;
    let version = diesel::sql_query("PRAGMA user_version").get_result::<UserVersion>(conn)?;
    conn.batch_execute(&format!("PRAGMA user_version = {}", version.user_version))
}

/// A pooled connection. While the database is down (a connection attempt just failed), only
/// an idle connection is taken, else 503 at once; otherwise a short wait, and a longer one
/// only when the database is up but every connection is busy.
fn checkout(pool: &Pool) -> Result<PooledConnection, AppError> {
    let health = &pool.health;
    if health.is_down() {
        return pool
            .try_get()
            .ok_or_else(|| AppError::unavailable("the database does not answer"));
    }
    match pool.get_timeout(Duration::from_secs(1)) {
        Ok(conn) => Ok(conn),
        Err(_) if health.is_down() => Err(AppError::unavailable("the database does not answer")),
        Err(_) => Ok(pool.get_timeout(Duration::from_secs(4))?),
    }
}

/// Text search that ignores case the same way on both databases: the database lowers the
/// column and the pattern alike (SQLite lowers ASCII letters, PostgreSQL every letter).
pub mod search {
    use diesel::sql_types::Text;

    #[diesel::declare_sql_function]
    extern "SQL" {
        fn lower(text: Text) -> Text;
    }

    /// `%text%` for LIKE … ESCAPE '\\', with LIKE's wildcards in `text` taken literally.
    pub fn containing(text: &str) -> String {
        format!("%{}%", escape(text))
    }

    /// The FTS5 phrase for `text` when SQLite's trigram index can answer a search for it
    /// (three characters or more: shorter text has no trigram); None elsewhere, where LIKE
    /// answers (on PostgreSQL through its trigram indexes). The phrase quotes the text whole,
    /// so nothing in it is read as FTS5 syntax.
    pub fn indexed_phrase(conn: &super::DbConnection, text: &str) -> Option<String> {
        let super::DbConnection::Sqlite(_) = conn else {
            return None;
        };
        (has_trigrams(text) && !text.contains(INDEXED_TEXT_END))
            .then(|| format!("\"{}\"", text.replace('"', "\"\"")))
    }

    /// The character SQLite's trigram tables index twice after every text (migration 29), so
    /// that every character of a text, and every pair, begins a trigram there. Text holding it
    /// is searched without those tables: they would find it at the end of every text.
    pub const INDEXED_TEXT_END: char = '\u{1}';

    /// Whether SQLite finds `text` the same through its trigram tables as by comparing the
    /// rows ([`case_blind_like`]): every character is ASCII, has no case (digits, signs,
    /// Chinese, Arabic), or is a letter of the Latin, Greek, Cyrillic or Armenian alphabets,
    /// which [`fold_case`] folds as the tables do (a unit test holds it to the bundled
    /// SQLite, character by character). Other letters (Cherokee, Georgian capitals, letters
    /// added to Unicode since SQLite's tables were made) are read from the matches alone.
    pub fn folds_alike(text: &str) -> bool {
        text.chars().all(|c| {
            c.is_ascii()
                || (has_no_case(c) && !('\u{FFFD}'..='\u{FFFF}').contains(&c))
                || FOLDED_ALPHABETS.iter().any(|range| range.contains(&c))
        })
    }

    /// The alphabets whose letters [`fold_case`] folds as SQLite's trigram tables do.
    const FOLDED_ALPHABETS: [std::ops::RangeInclusive<char>; 6] = [
        // Latin-1 letters, Latin Extended-A and -B
        '\u{C0}'..='\u{24F}',
        // Greek and Coptic (but U+037F, a letter the tables do not fold)
        '\u{370}'..='\u{37E}',
        '\u{380}'..='\u{3FF}',
        // Cyrillic and the first of its supplement
        '\u{400}'..='\u{527}',
        // Armenian
        '\u{531}'..='\u{587}',
        // Latin Extended Additional and Greek Extended
        '\u{1E00}'..='\u{1FFF}',
    ];

    fn has_no_case(c: char) -> bool {
        c.to_lowercase().eq([c]) && c.to_uppercase().eq([c])
    }

    /// `text` with the case of its letters folded as SQLite's trigram tables fold it (FTS5's
    /// fold: a letter's small form, and for a few the form Unicode's case folding gives, `ς`
    /// as `σ`, `ſ` as `s`, `µ` as `μ`), for the letters [`folds_alike`] accepts; a letter whose
    /// small form is more than one character stays as it is. SQLite's own `lower()` and `LIKE`
    /// fold ASCII letters only; the `fold_case` SQL function ([`register_fold_case`]) is this.
    pub fn fold_case(text: &str) -> String {
        text.chars().map(fold_char).collect()
    }

    /// [`fold_case`] of one character.
    pub fn fold_char(c: char) -> char {
        if c.is_ascii() {
            return c.to_ascii_lowercase();
        }
        match c {
            'µ' => 'μ',
            'ſ' => 's',
            '\u{345}' | '\u{1FBE}' => 'ι',
            'ς' => 'σ',
            'ϐ' => 'β',
            'ϑ' => 'θ',
            'ϕ' => 'φ',
            'ϖ' => 'π',
            'ϰ' => 'κ',
            'ϱ' => 'ρ',
            'ϵ' => 'ε',
            'ẛ' => 'ṡ',
            // signs that are letters of these alphabets to the tables
            '\u{2126}' => 'ω',
            '\u{212A}' => 'k',
            '\u{212B}' => 'å',
            'Ȿ' => 'ȿ',
            'Ɀ' => 'ɀ',
            _ if FOLDED_ALPHABETS.iter().any(|range| range.contains(&c)) => {
                let mut small = c.to_lowercase();
                match (small.next(), small.next()) {
                    (Some(one), None) => one,
                    _ => c,
                }
            }
            _ => c,
        }
    }

    #[diesel::declare_sql_function]
    extern "SQL" {
        /// [`fold_case`] in SQL, on SQLite only.
        #[sql_name = "fold_case"]
        fn fold_case_in_sql(text: Text) -> Text;
    }

    /// Makes [`fold_case`] the `fold_case` SQL function of a SQLite connection.
    pub fn register_fold_case(conn: &mut diesel::SqliteConnection) -> diesel::QueryResult<()> {
        fold_case_in_sql_utils::register_impl(conn, |text: String| fold_case(&text))
    }

    /// Whether SQLite compares rows for `text` through [`fold_case`]: text with letters beyond
    /// ASCII whose case it folds alike ([`folds_alike`]). ASCII text needs no more than
    /// `LIKE`, which already ignores the case of ASCII letters.
    fn folded_on_sqlite(text: &str) -> bool {
        text.chars().any(|c| !c.is_ascii() && !has_no_case(c)) && folds_alike(text)
    }

    /// The trigrams that begin with `text` of one or two characters, on SQLite, in the
    /// vocabulary order of its trigram tables: `[from, to)`, `text` folded as they fold it.
    /// Every place `text` stands begins one of them, as every indexed text ends in two
    /// [`INDEXED_TEXT_END`]. None for longer text, for text the tables fold unlike the
    /// program ([`folds_alike`]) and for text holding `INDEXED_TEXT_END`.
    pub fn short_text_range(text: &str) -> Option<(String, String)> {
        let count = text.chars().count();
        if !(1..=2).contains(&count) || text.contains(INDEXED_TEXT_END) || !folds_alike(text) {
            return None;
        }
        let from = fold_case(text);
        let last = from.chars().last()?;
        // the next character (past the surrogates, which no text holds)
        let next = match u32::from(last) + 1 {
            0xD800 => '\u{E000}',
            code => char::from_u32(code)?,
        };
        let mut to: String = from.chars().take(count - 1).collect();
        to.push(next);
        Some((from, to))
    }

    /// At most this many trigrams, holding at most [`SHORT_TEXT_ROWS`] rows, are read for
    /// text of one or two characters; more, and reading the company's own rows costs less.
    pub const SHORT_TEXT_TRIGRAMS: i64 = 2_000;

    /// See [`SHORT_TEXT_TRIGRAMS`].
    pub const SHORT_TEXT_ROWS: i64 = 30_000;

    /// Where SQLite's trigram tables hold short text: the vocabulary of one column, and the
    /// column. Program literals alone.
    #[derive(Clone, Copy, Debug)]
    pub struct Vocabulary {
        pub table: &'static str,
        pub column: &'static str,
    }

    /// The FTS5 query of the rows whose `vocabulary.column` holds the text of `range`
    /// ([`short_text_range`]): every trigram that begins with it, or'ed (a query no row
    /// matches when none does). None when they are more than [`SHORT_TEXT_TRIGRAMS`] or hold
    /// more than [`SHORT_TEXT_ROWS`] rows: the text is common, read the company's rows instead.
    pub fn short_text_query(
        conn: &mut super::DbConnection,
        vocabulary: Vocabulary,
        (from, to): (&str, &str),
    ) -> diesel::QueryResult<Option<String>> {
        #[derive(diesel::QueryableByName)]
        struct Trigram {
            #[diesel(sql_type = Text)]
            term: String,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            doc: i64,
        }
        let mut terms = super::raw::RawSql::new(conn);
        terms
            .sql("SELECT term, doc FROM ")
            .sql(vocabulary.table)
            .sql(" WHERE term >= ")
            .text(from)
            .sql(" AND term < ")
            .text(to)
            .sql(" AND col = '")
            .sql(vocabulary.column)
            .sql("' LIMIT ")
            .int(SHORT_TEXT_TRIGRAMS + 1);
        let trigrams: Vec<Trigram> = terms.load(conn)?;
        let rows: i64 = trigrams.iter().map(|trigram| trigram.doc).sum();
        if trigrams.len() as i64 > SHORT_TEXT_TRIGRAMS || rows > SHORT_TEXT_ROWS {
            return Ok(None);
        }
        if trigrams.is_empty() {
            // a trigram no text ends in (two INDEXED_TEXT_END end each), and not it
            let none = "\"\u{1}\u{1}\u{1}\"";
            return Ok(Some(format!("{none} NOT {none}")));
        }
        let quoted: Vec<String> = trigrams
            .iter()
            .map(|trigram| format!("\"{}\"", trigram.term.replace('"', "\"\"")))
            .collect();
        Ok(Some(quoted.join(" OR ")))
    }

    /// The start of a case-blind `LIKE` of `column` (program text) against the pattern of a
    /// search of `text` ([`search_pattern`]) bound next, closed by `) ESCAPE '\\'`:
    /// `lower(column) LIKE lower(` on PostgreSQL. On SQLite `column LIKE (`: its LIKE already
    /// ignores the case of ASCII letters, the only ones its `lower()` folds, so it finds the
    /// same rows without lowering each row's text first (a scan of 300 000 messages in half
    /// the time); and `fold_case(column) LIKE (` for text with other letters that have case
    /// ([`fold_case`]), so that `ça` finds `Ça va` as it does on PostgreSQL.
    pub fn case_blind_like(conn: &super::DbConnection, column: &str, text: &str) -> String {
        let (before, after) = case_blind_like_around(conn, text);
        format!("{before}{column}{after}")
    }

    /// [`case_blind_like`] as the program text before and after the column, for SQL built
    /// from literals alone (`db::raw`).
    pub fn case_blind_like_around(
        conn: &super::DbConnection,
        text: &str,
    ) -> (&'static str, &'static str) {
        match conn {
            super::DbConnection::Sqlite(_) if folded_on_sqlite(text) => ("fold_case(", ") LIKE ("),
            super::DbConnection::Sqlite(_) => ("", " LIKE ("),
            super::DbConnection::Postgres(_) => ("lower(", ") LIKE lower("),
        }
    }

    /// The `LIKE` pattern (ESCAPE '\\') [`case_blind_like`] compares with for a search of
    /// `text`: `%text%`, folded as the rows are where SQLite folds them.
    pub fn search_pattern(conn: &super::DbConnection, text: &str) -> String {
        match conn {
            super::DbConnection::Sqlite(_) if folded_on_sqlite(text) => {
                containing(&fold_case(text))
            }
            _ => containing(text),
        }
    }

    /// [`case_blind_like_around`] for a plan's sample, which estimates how many of a few
    /// thousand rows hold `text`: for ASCII text, PostgreSQL folds the case of ASCII letters
    /// only (the "C" collation), as SQLite's `LIKE` does, where `lower()` of every letter took
    /// most of the time (4 000 messages: 2.6 ms, 1.6 ms). Other text is folded in full, so a
    /// word written capitalized (`Çok`) counts when searched in small letters. Never for what a
    /// search finds: there `lower()` folds every letter (`lower('İstanbul')` holds `is`).
    pub fn sample_like_around(
        conn: &super::DbConnection,
        text: &str,
    ) -> (&'static str, &'static str) {
        match conn {
            super::DbConnection::Postgres(_) if text.is_ascii() => {
                ("lower(", " COLLATE \"C\") LIKE lower(")
            }
            _ => case_blind_like_around(conn, text),
        }
    }

    /// Whether a trigram index can narrow a search for `text`: three characters or more.
    pub fn has_trigrams(text: &str) -> bool {
        text.chars().count() >= 3
    }

    /// The LIKE pattern (ESCAPE '\\') for lowercase text that starts with `text`: the beginning
    /// of a username is enough, "ali" finds alice.
    pub fn starting_with(text: &str) -> String {
        format!("{}%", escape(&text.to_lowercase()))
    }

    /// `text` with LIKE's wildcards (and the escape character) escaped, for ESCAPE '\\'.
    pub fn escape(text: &str) -> String {
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_read_as_the_trigrams_that_begin_with_it() {
        use search::short_text_range as range;
        let owned = |from: &str, to: &str| Some((from.to_string(), to.to_string()));
        assert_eq!(range("ab"), owned("ab", "ac"));
        assert_eq!(range("AB"), owned("ab", "ac"), "folded as the tables fold");
        assert_eq!(range("k"), owned("k", "l"));
        assert_eq!(range("?"), owned("?", "@"));
        assert_eq!(range("谢"), owned("谢", "谣"));
        assert_eq!(range("a谢"), owned("a谢", "a谣"));
        assert_eq!(range("\u{D7FF}"), owned("\u{D7FF}", "\u{E000}"));
        // longer text has trigrams; none: nothing to search
        assert_eq!(range("abc"), None);
        assert_eq!(range(""), None);
        // letters beyond ASCII, folded as the tables fold them
        assert_eq!(range("Ça"), owned("ça", "çb"));
        assert_eq!(range("ΣΑ"), owned("σα", "σβ"));
        assert_eq!(range("ς"), owned("σ", "τ"));
        assert_eq!(range("Да"), owned("да", "дб"));
        // letters the tables fold unlike the program, and the tables' own end
        assert_eq!(range("Ꭰ"), None);
        assert_eq!(range("a\u{1}"), None);
        assert_eq!(range("\u{10FFFF}"), None);
    }

    #[test]
    fn text_folds_alike_unless_it_holds_letters_the_tables_fold_otherwise() {
        for alike in [
            "abc",
            "ABC 12",
            "谢谢",
            "مرحبا",
            "١٢",
            "+90 532",
            "→ ✓",
            "Ça",
            "çok",
            "ß",
            "Ω",
            "ǅ",
            "İ",
            "Да",
            "Ἀθῆναι",
            "Բարեւ",
            "Việt",
        ] {
            assert!(search::folds_alike(alike), "{alike}");
        }
        // Cherokee, Georgian capitals, a Greek letter and a Cyrillic one the tables leave as
        // they are, a Deseret one, and what the tables read as U+FFFD
        for unlike in ["Ꭰ", "ꭰ", "Ა", "Ϳ", "Ԩ", "𐐀", "\u{FFFE}", "\u{FFFD}"] {
            assert!(!search::folds_alike(unlike), "{unlike}");
        }
        assert_eq!(
            search::fold_case("ÇA VA, Σοφία? ẞ µ ſ"),
            "ça va, σοφία? ß μ s"
        );
    }

    /// `fold_case` folds every letter `folds_alike` accepts as the bundled SQLite's trigram
    /// tables fold it; and a search of such a letter finds the same characters either way
    /// (the characters the tables fold to it are those `fold_case` folds to it). Read from the
    /// tables' vocabulary, for every character beyond ASCII.
    #[test]
    fn fold_case_folds_as_sqlites_trigram_tables() {
        use diesel::RunQueryDsl;
        use diesel::sql_types::{BigInt, Text};
        use std::collections::{BTreeSet, HashMap};
        #[derive(diesel::QueryableByName)]
        struct Folded {
            #[diesel(sql_type = BigInt)]
            doc: i64,
            #[diesel(sql_type = Text)]
            term: String,
        }
        let mut conn = DbManager::new(DatabaseUrl::Sqlite(":memory:".into()))
            .connect_once()
            .expect("an in-memory database");
        conn.batch_execute(
            "CREATE VIRTUAL TABLE folded USING fts5(text, tokenize = 'trigram');
             CREATE VIRTUAL TABLE folded_terms USING fts5vocab(folded, 'instance');
             INSERT INTO folded(rowid, text)
             WITH RECURSIVE code(point) AS (SELECT 128 UNION ALL SELECT point + 1 FROM code
                                            WHERE point < 1114111)
             SELECT point, char(point) || 'zz' FROM code WHERE point NOT BETWEEN 55296 AND 57343;",
        )
        .expect("the table of every character");
        // the characters the tables fold to another one (each begins its text's one trigram)
        let changed: Vec<Folded> = diesel::sql_query(
            "SELECT doc, term FROM folded_terms WHERE \"offset\" = 0 \
             AND substr(term, 1, 1) <> char(doc)",
        )
        .load(&mut conn)
        .expect("the vocabulary");
        let indexed: Vec<Folded> = diesel::sql_query(
            "SELECT count(*) AS doc, '' AS term FROM folded_terms WHERE \"offset\" = 0",
        )
        .load(&mut conn)
        .expect("the vocabulary's size");
        assert_eq!(indexed[0].doc, 0x110000 - 0x80 - 0x800, "every character");
        let mut by_tables = HashMap::new();
        for Folded { doc, term } in changed {
            let c = u32::try_from(doc)
                .ok()
                .and_then(char::from_u32)
                .expect("a character");
            by_tables.insert(c, term.chars().next().expect("a trigram"));
        }
        let every = || (0x80..0x110000).filter_map(char::from_u32);
        let tables = |c: char| by_tables.get(&c).copied().unwrap_or(c);
        let program = |c: char| search::fold_char(c);
        // what each character is found by, where that is more than itself
        let (mut found_by_tables, mut found_by_program) = (HashMap::new(), HashMap::new());
        for c in every() {
            let (by_tables, by_program) = (tables(c), program(c));
            if by_tables != c {
                found_by_tables
                    .entry(by_tables)
                    .or_insert_with(|| BTreeSet::from([by_tables]))
                    .insert(c);
            }
            if by_program != c {
                found_by_program
                    .entry(by_program)
                    .or_insert_with(|| BTreeSet::from([by_program]))
                    .insert(c);
            }
        }
        let found = |classes: &HashMap<char, BTreeSet<char>>, c: char| {
            classes
                .get(&c)
                .cloned()
                .unwrap_or_else(|| BTreeSet::from([c]))
        };
        let mut differ = Vec::new();
        let mut alike = 0;
        let mut one = [0; 4];
        for c in every().filter(|&c| search::folds_alike(c.encode_utf8(&mut one))) {
            alike += 1;
            if tables(c) != program(c) {
                differ.push(format!("{c:?} folds to {:?} / {:?}", tables(c), program(c)));
            } else if found(&found_by_tables, tables(c)) != found(&found_by_program, program(c)) {
                differ.push(format!(
                    "{c:?} finds {:?} / {:?}",
                    found(&found_by_tables, tables(c)),
                    found(&found_by_program, program(c))
                ));
            }
        }
        assert!(differ.is_empty(), "folded otherwise: {differ:#?}");
        assert!(alike > 1_000_000, "{alike}");
        // the SQL function is the same fold
        let sql: Vec<Folded> =
            diesel::sql_query("SELECT 1 AS doc, fold_case('ÇA VA, Σοφία? Ꭰ İ ǅ') AS term")
                .load(&mut conn)
                .expect("fold_case in SQL");
        assert_eq!(sql[0].term, search::fold_case("ÇA VA, Σοφία? Ꭰ İ ǅ"));
    }

    #[test]
    fn a_phrase_never_holds_the_tables_own_end() {
        let sqlite = DbManager::new(DatabaseUrl::Sqlite(":memory:".into()))
            .connect()
            .expect("an in-memory database");
        assert_eq!(
            search::indexed_phrase(&sqlite, "say \"hi\""),
            Some("\"say \"\"hi\"\"\"".into())
        );
        assert_eq!(search::indexed_phrase(&sqlite, "ab"), None);
        assert_eq!(search::indexed_phrase(&sqlite, "ab\u{1}"), None);
    }

    #[test]
    fn a_connection_back_from_good_work_skips_the_ping_for_half_a_second_and_a_failed_one_is_closed()
     {
        let manager = DbManager::new(DatabaseUrl::Sqlite(":memory:".into()));
        let mut pooled = manager.connect().expect("an in-memory database");
        let now = std::time::Instant::now();
        assert!(!pooled.checked_recently(now), "a new connection is checked");

        assert!(!manager.has_broken(&mut pooled));
        let back = pooled.returned_well.expect("came back well");
        assert!(pooled.checked_recently(back));
        assert!(pooled.checked_recently(back + CHECKED_RECENTLY - Duration::from_millis(1)));
        assert!(
            !pooled.checked_recently(back + CHECKED_RECENTLY),
            "pinged again"
        );
        assert!(manager.is_valid(&mut pooled).is_ok());

        // work the database failed: closed as it comes back, and never counted as well
        DISCARD_ON_RETURN.with(|discard| discard.set(true));
        assert!(manager.has_broken(&mut pooled));
        assert!(pooled.returned_well.is_none());
        assert!(!pooled.checked_recently(back));
        // the flag served that one return only
        assert!(!manager.has_broken(&mut pooled));
    }

    #[test]
    fn only_the_databases_failures_close_a_connection() {
        let failed: AppError = DieselError::DatabaseError(
            diesel::result::DatabaseErrorKind::ClosedConnection,
            Box::new("server closed the connection unexpectedly".to_string()),
        )
        .into();
        assert!(failed.is_database_failure());
        assert!(!AppError::NotFound.is_database_failure());
        assert!(!AppError::Conflict("taken".into()).is_database_failure());
        assert!(!AppError::Forbidden.is_database_failure());
    }

    #[test]
    fn parses_database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://switchboard.db"),
            Ok(DatabaseUrl::Sqlite("switchboard.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db"),
            Ok(DatabaseUrl::Sqlite("/tmp/x.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u:p@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn serving_connections_never_create_a_database_file() {
        let dir = std::env::temp_dir().join(format!(
            "sb_unit_{}_{}",
            std::process::id(),
            crate::core::secrets::random_hex(4)
        ));
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("odd name?#%.db").to_string_lossy().into_owned();
        let serving = DbManager {
            serving: true,
            ..DbManager::new(DatabaseUrl::Sqlite(path.clone()))
        };
        assert!(serving.connect_once().is_err());
        assert!(!std::path::Path::new(&path).exists());
        // the command line (and `connect`, before its pool) creates it; then serving opens it
        drop(
            DbManager::new(DatabaseUrl::Sqlite(path.clone()))
                .connect_once()
                .unwrap(),
        );
        assert!(serving.connect_once().is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            DatabaseUrl::parse("postgres://sb:hunter2@db:5432/sb")
                .map(|u| u.display())
                .ok(),
            Some("postgres://sb:***@db:5432/sb".to_string())
        );
    }
}
