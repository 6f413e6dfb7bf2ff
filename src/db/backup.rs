//! Online backups and restores of the embedded SQLite database. PostgreSQL has its own tools
//! (`pg_dump` / `pg_restore`), which the commands point to.
//!
//! A serving process holds a shared lock on `<database>.lock` for as long as it runs; a restore
//! takes that lock exclusively, so it never replaces a file a running panel has open.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl, SqliteConnection};

use super::DatabaseUrl;

const PG_DUMP_HINT: &str = "PostgreSQL is backed up with its own tools: \
    pg_dump --format=custom --file=switchboard.dump \"$SWITCHBOARD_DATABASE_URL\", \
    and restored with pg_restore --clean --dbname=\"$SWITCHBOARD_DATABASE_URL\" switchboard.dump";

/// The lock a serving process holds on its SQLite database (none on PostgreSQL), released
/// when dropped.
pub struct InUse {
    _lock: Option<File>,
}

fn lock_path(database: &str) -> PathBuf {
    PathBuf::from(format!("{database}.lock"))
}

fn open_lock(database: &str) -> anyhow::Result<File> {
    let path = lock_path(database);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Marks the database as in use for as long as the value lives (serving processes share it).
pub fn hold(url: &DatabaseUrl) -> anyhow::Result<InUse> {
    match url {
        DatabaseUrl::Postgres(_) => Ok(InUse { _lock: None }),
        DatabaseUrl::Sqlite(path) => {
            let lock = open_lock(path)?;
            lock.lock_shared()
                .with_context(|| format!("cannot lock {}", lock_path(path).display()))?;
            Ok(InUse { _lock: Some(lock) })
        }
    }
}

/// A consistent copy of the live database in `to` (a new file), taken while the panel serves:
/// `VACUUM INTO` reads one snapshot of the database.
pub fn backup(url: &DatabaseUrl, to: &Path) -> anyhow::Result<()> {
    let DatabaseUrl::Sqlite(path) = url else {
        bail!("{PG_DUMP_HINT}");
    };
    if to.exists() {
        bail!("{} exists already; name a new file", to.display());
    }
    if !Path::new(path).exists() {
        bail!("there is no database at {path}");
    }
    let mut conn = SqliteConnection::establish(path)
        .with_context(|| format!("cannot open the database at {path}"))?;
    conn.batch_execute("PRAGMA busy_timeout = 5000;")?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<diesel::sql_types::Text, _>(to.to_string_lossy())
        .execute(&mut conn)
        .with_context(|| format!("cannot write the backup to {}", to.display()))?;
    Ok(())
}

/// Replaces the database with the backup in `from`, after checking the backup is a sound
/// Switchboard database; refused while a panel serves the database.
pub fn restore(url: &DatabaseUrl, from: &Path) -> anyhow::Result<()> {
    let DatabaseUrl::Sqlite(path) = url else {
        bail!("{PG_DUMP_HINT}");
    };
    let lock = open_lock(path)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => bail!(
            "the database at {path} is in use by a running switchboard; stop it before restoring"
        ),
        Err(TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("cannot lock {}", lock_path(path).display()));
        }
    }
    check_backup(from)?;
    // copy beside the target, then rename: the database is either the old one or the new one
    let staged = PathBuf::from(format!("{path}.restoring"));
    std::fs::copy(from, &staged)
        .with_context(|| format!("cannot copy {} to {}", from.display(), staged.display()))?;
    // the old database's write-ahead log must not be replayed onto the restored file
    for suffix in ["-wal", "-shm"] {
        let stale = format!("{path}{suffix}");
        if Path::new(&stale).exists() {
            std::fs::remove_file(&stale).with_context(|| format!("cannot remove {stale}"))?;
        }
    }
    std::fs::rename(&staged, path)
        .with_context(|| format!("cannot move {} to {path}", staged.display()))?;
    drop(lock);
    Ok(())
}

/// The file opens as SQLite, passes `PRAGMA integrity_check` and holds Switchboard's tables.
fn check_backup(from: &Path) -> anyhow::Result<()> {
    if !from.is_file() {
        bail!("there is no backup at {}", from.display());
    }
    let name = from.to_string_lossy();
    let mut conn = SqliteConnection::establish(&name)
        .with_context(|| format!("{name} is not a SQLite database"))?;
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let checks: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .with_context(|| format!("{name} is not a SQLite database"))?;
    if checks.iter().any(|c| c.integrity_check != "ok") {
        bail!("{name} is damaged (PRAGMA integrity_check failed)");
    }
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let tables: Vec<Count> = diesel::sql_query(
        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' \
         AND name IN ('companies', 'users', 'audit_events', '__diesel_schema_migrations')",
    )
    .load(&mut conn)?;
    if tables.first().map(|c| c.n) != Some(4) {
        bail!("{name} is not a Switchboard database");
    }
    Ok(())
}
