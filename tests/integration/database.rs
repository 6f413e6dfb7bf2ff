//! A database that exists for one test (or one benchmark run) and is removed afterwards: a
//! SQLite file in the temporary folder, or a new database on a PostgreSQL server. Shared by
//! the integration tests and the benchmarks (`#[path]`), so both set up the same way.

use diesel::{Connection, PgConnection, RunQueryDsl};
use switchboard::db::DatabaseUrl;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Postgres { server: String, name: String },
}

pub fn postgres_server() -> String {
    std::env::var("SWITCHBOARD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The server URL with another database name.
fn with_database(server: &str, name: &str) -> String {
    let (base, _) = server.rsplit_once('/').unwrap_or((server, ""));
    format!("{base}/{name}")
}

impl TestDatabase {
    /// A fresh database of this backend; PostgreSQL on `SWITCHBOARD_TEST_POSTGRES`.
    pub fn create(backend: Backend) -> Self {
        Self::create_on(backend, &postgres_server())
    }

    /// A fresh database; for PostgreSQL, on `server` (a URL of any database on it).
    pub fn create_on(backend: Backend, server: &str) -> Self {
        let unique = format!(
            "sb_test_{}_{}",
            std::process::id(),
            switchboard::core::secrets::random_hex(6)
        );
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{unique}.db"));
                Self {
                    url: DatabaseUrl::Sqlite(path.to_string_lossy().into_owned()),
                    cleanup: Cleanup::File(path),
                }
            }
            Backend::Postgres => {
                let server = server.to_string();
                let mut admin = PgConnection::establish(&server).unwrap_or_else(|err| {
                    panic!(
                        "PostgreSQL tests need a server at {server} ({err}). Start it, or set \
                         SWITCHBOARD_TEST_POSTGRES, or run only the SQLite tests: cargo test sqlite"
                    )
                });
                diesel::sql_query(format!("CREATE DATABASE {unique}"))
                    .execute(&mut admin)
                    .expect("create test database");
                Self {
                    url: DatabaseUrl::Postgres(with_database(&server, &unique)),
                    cleanup: Cleanup::Postgres {
                        server,
                        name: unique,
                    },
                }
            }
        }
    }

    /// The database a benchmark runs on: PostgreSQL when `SWITCHBOARD_BENCH_POSTGRES` names a
    /// server, else a SQLite file; and how many rows it seeds (`SWITCHBOARD_BENCH_ROWS`).
    pub fn for_benchmark(default_rows: usize) -> (Self, usize) {
        let rows = std::env::var("SWITCHBOARD_BENCH_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default_rows);
        let database = match std::env::var("SWITCHBOARD_BENCH_POSTGRES") {
            Ok(server) => Self::create_on(Backend::Postgres, &server),
            Err(_) => Self::create(Backend::Sqlite),
        };
        (database, rows)
    }

    /// A SQLite database at `path` (a file the test chose), removed afterwards like the others.
    pub fn sqlite_at(path: std::path::PathBuf) -> Self {
        Self {
            url: DatabaseUrl::Sqlite(path.to_string_lossy().into_owned()),
            cleanup: Cleanup::File(path),
        }
    }

    pub fn url_string(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{path}"),
            DatabaseUrl::Postgres(url) => url.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                // `.lock`: the file a serving process holds so that `restore` waits for it
                for suffix in ["", "-wal", "-shm", ".lock"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Postgres { server, name } => {
                if let Ok(mut admin) = PgConnection::establish(server) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin);
                }
            }
        }
    }
}
