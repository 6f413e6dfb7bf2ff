//! How this instance reaches PostgreSQL, and what to tell the operator about it at start.
//!
//! libpq's default `sslmode=prefer` encrypts whenever the server offers TLS but never checks
//! who the server is: over a network it stops no one who can sit in the path, and on this
//! machine it costs CPU on both ends for nothing (on the inbox, 2026-12-04: 3,000–3,290
//! pages/s over TLS to 127.0.0.1, 3,380–3,710/s without, 3,360–3,790/s over a Unix socket).
//! The server says how the connection arrived; the URL (or `PGSSLMODE`) says whether the
//! server's certificate was checked.

use diesel::RunQueryDsl;
use diesel::sql_types::Bool;

use crate::db::DbConnection;
use crate::error::AppError;

/// How one connection reached the server, as the server saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A Unix socket: never leaves the machine, nothing to encrypt.
    Socket,
    /// TCP to a loopback address (127.0.0.0/8, ::1).
    Loopback { tls: bool },
    /// TCP to any other address: the traffic crosses a network.
    Network { tls: bool },
}

/// The transport of `conn`; `None` on SQLite (a file, no transport).
pub fn of_connection(conn: &mut DbConnection) -> Result<Option<Transport>, AppError> {
    let DbConnection::Postgres(c) = conn else {
        return Ok(None);
    };
    let (socket, loopback, tls): (bool, bool, bool) =
        diesel::select(diesel::dsl::sql::<(Bool, Bool, Bool)>(
            "inet_server_addr() IS NULL, \
         COALESCE(inet_server_addr() <<= inet '127.0.0.0/8' OR inet_server_addr() = inet '::1', \
                  false), \
         COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
        ))
        .get_result(c)?;
    Ok(Some(if socket {
        Transport::Socket
    } else if loopback {
        Transport::Loopback { tls }
    } else {
        Transport::Network { tls }
    }))
}

/// The `sslmode` libpq uses for `url`: the URL's own, else `PGSSLMODE` (`env`), else its
/// default, `prefer`.
pub fn ssl_mode(url: &str, env: Option<&str>) -> String {
    let from_url = url::Url::parse(url).ok().and_then(|parsed| {
        parsed
            .query_pairs()
            .find(|(key, _)| key == "sslmode")
            .map(|(_, value)| value.into_owned())
    });
    from_url
        .or_else(|| env.map(str::to_string))
        .filter(|mode| !mode.trim().is_empty())
        .unwrap_or_else(|| "prefer".to_string())
}

/// What the operator should hear about `transport` with `ssl_mode`, if anything.
#[derive(Debug, PartialEq, Eq)]
pub enum Advice {
    /// The traffic crosses a network and the server is not verified.
    Unverified(String),
    /// Encryption to this machine: CPU spent on both ends for nothing.
    NeedlessTls(String),
}

pub fn advice(transport: Transport, ssl_mode: &str) -> Option<Advice> {
    let verified = matches!(ssl_mode, "verify-ca" | "verify-full");
    match transport {
        Transport::Network { tls } if !verified => Some(Advice::Unverified(format!(
            "PostgreSQL is reached over the network {} (sslmode={ssl_mode}): anyone on the \
             path can {}. Set sslmode=verify-full (with sslrootcert) in the database URL",
            if tls {
                "without checking the server's certificate"
            } else {
                "unencrypted"
            },
            if tls {
                "pose as the database"
            } else {
                "read and change the traffic"
            },
        ))),
        // only when TLS came by default: one asked for by name is the operator's choice
        Transport::Loopback { tls: true } if matches!(ssl_mode, "prefer" | "allow") => {
            Some(Advice::NeedlessTls(
                "PostgreSQL on this machine is reached over TLS, which costs CPU on both ends \
             (about a tenth of the inbox's throughput): a Unix socket \
             (postgres://USER@%2Fvar%2Frun%2Fpostgresql/DB) or sslmode=disable avoids it"
                    .to_string(),
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ssl_mode_is_the_urls_then_the_environments_then_prefer() {
        let url = "postgres://sb:secret@db.internal:5432/sb?sslmode=verify-full&connect_timeout=3";
        assert_eq!(ssl_mode(url, Some("disable")), "verify-full");
        assert_eq!(
            ssl_mode("postgres://sb@db/sb?connect_timeout=3", Some("require")),
            "require"
        );
        assert_eq!(ssl_mode("postgres://sb@db/sb", None), "prefer");
        assert_eq!(ssl_mode("postgres://sb@db/sb", Some(" ")), "prefer");
        assert_eq!(
            ssl_mode("postgres://sb@%2Fvar%2Frun%2Fpostgresql/sb", None),
            "prefer"
        );
    }

    #[test]
    fn a_network_connection_is_told_unless_the_server_is_verified() {
        for mode in ["disable", "allow", "prefer", "require"] {
            for tls in [false, true] {
                assert!(
                    matches!(
                        advice(Transport::Network { tls }, mode),
                        Some(Advice::Unverified(_))
                    ),
                    "{mode}, tls {tls}"
                );
            }
        }
        for mode in ["verify-ca", "verify-full"] {
            assert_eq!(advice(Transport::Network { tls: true }, mode), None);
        }
    }

    #[test]
    fn tls_to_this_machine_is_told_and_a_socket_is_not() {
        assert!(matches!(
            advice(Transport::Loopback { tls: true }, "prefer"),
            Some(Advice::NeedlessTls(_))
        ));
        assert_eq!(advice(Transport::Loopback { tls: false }, "prefer"), None);
        assert_eq!(advice(Transport::Loopback { tls: true }, "require"), None);
        assert_eq!(
            advice(Transport::Loopback { tls: true }, "verify-full"),
            None
        );
        assert_eq!(advice(Transport::Socket, "prefer"), None);
        assert_eq!(advice(Transport::Socket, "disable"), None);
    }
}
