//! actix-session's store, backed by the `sessions` table.
//!
//! The cookie holds a random 256-bit token made here; the table keeps its SHA-256. Loading a
//! session is one query that joins session, user, role and company (see
//! `domain::sessions::load`), and answers "no session" for a revoked, expired or idle session
//! or a user who is no longer active, so such a session ends on its very next request.
//! What it read is kept in the [`SessionCache`] for the requests that follow (see there for how
//! long, and what retires it).

use crate::core::ids::{CompanyId, UserId};
use std::collections::HashMap;
use std::sync::Arc;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use serde::{Deserialize, Serialize};

use crate::auth::session_cache::SessionCache;
use crate::core::secrets;
use crate::db::Pool;
use crate::db::changes::{self, Changed};
use crate::domain::now;
use crate::domain::sessions::{self, NewSession, SessionAuth};

/// Session-state key of the joined session/user/role row, put there by `load`.
pub const AUTH_KEY: &str = "_auth";
/// Session-state key that a successful sign-in sets; `save` turns it into a session row.
pub const LOGIN_KEY: &str = "_login";
/// Session-state key that says the database could not be asked (the guard answers 503).
pub const UNAVAILABLE_KEY: &str = "_unavailable";
/// Set (instead of the auth) when the cookie names a session that was ended: why, as a code.
pub const ENDED_KEY: &str = "_ended";

/// What sign-in grants: the new session's owner and where they signed in from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoginGrant {
    pub user_id: UserId,
    pub company_id: CompanyId,
    pub ip: String,
    pub user_agent: String,
}

#[derive(Clone)]
pub struct DbSessionStore {
    pool: Pool,
    cache: Arc<SessionCache>,
}

impl DbSessionStore {
    pub fn new(pool: Pool, cache: Arc<SessionCache>) -> Self {
        Self { pool, cache }
    }
}

tokio::task_local! {
    /// Set while a request a page makes by itself (its live updates) is handled.
    static PASSIVE: bool;
}

fn is_passive() -> bool {
    PASSIVE.try_with(|passive| *passive).unwrap_or(false)
}

/// Middleware, outside the session middleware: a live-update request (`GET …/live`) loads its
/// session without counting as activity, so an open tab alone never keeps a session from
/// idling out.
pub async fn passive_requests(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let passive = req.method() == actix_web::http::Method::GET && req.path().ends_with("/live");
    PASSIVE.scope(passive, next.call(req)).await
}

/// Keys starting with '_' are derived on load or consumed on save; they are never stored.
fn persistent_data(state: &HashMap<String, String>) -> String {
    let kept: HashMap<&String, &String> =
        state.iter().filter(|(k, _)| !k.starts_with('_')).collect();
    serde_json::to_string(&kept).unwrap_or_else(|_| "{}".into())
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let token_hash = secrets::sha256_hex(key.as_ref());
        let loaded = match self.cache.get(&token_hash, &self.pool.cache_clock()) {
            Some(cached) => Ok(Some(Ok((cached.auth, cached.data)))),
            None => {
                self.cache.note_read();
                let passive = is_passive();
                let cache = self.cache.clone();
                let pool = self.pool.clone();
                crate::db::run(&self.pool, move |conn| {
                    // taken before the read: a commit that races the read retires the entry
                    let read = pool.cache_clock();
                    let forgets = cache.forgets();
                    let at = now();
                    let Some(mut loaded) = sessions::load(conn, &token_hash, at)? else {
                        let ended = sessions::why_ended(conn, &token_hash, at)?;
                        if ended == Some(sessions::Ended::Expired) {
                            // recorded as what it was (sign-out, which follows, keeps it)
                            sessions::revoke_by_token_hash(conn, &token_hash, "lifetime reached")?;
                        }
                        return Ok(ended.map(Err));
                    };
                    if loaded.is_idle(at) {
                        sessions::revoke_by_token_hash(conn, &token_hash, "idle timeout")?;
                        return Ok(Some(Err(sessions::Ended::Expired)));
                    }
                    // a page asking for live updates by itself is not the user at work: it
                    // must not keep an idle session alive
                    if !passive && loaded.needs_touch(at) {
                        sessions::touch(conn, loaded.auth.session_id, at)?;
                        loaded.touched(at);
                    }
                    cache.put(token_hash, loaded.clone(), &read, forgets);
                    Ok(Some(Ok((loaded.auth, loaded.data))))
                })
                .await
            }
        };
        match loaded {
            Ok(Some(Err(ended))) => Ok(Some(HashMap::from([(
                ENDED_KEY.into(),
                serde_json::to_string(ended.code())
                    .map_err(|err| LoadError::Other(anyhow::anyhow!(err)))?,
            )]))),
            Ok(Some(Ok((auth, data)))) => {
                let mut state: HashMap<String, String> =
                    serde_json::from_str(&data).unwrap_or_default();
                state.retain(|k, _| !k.starts_with('_'));
                let auth = serde_json::to_string(&auth)
                    .map_err(|err| LoadError::Other(anyhow::anyhow!(err)))?;
                state.insert(AUTH_KEY.into(), auth);
                Ok(Some(state))
            }
            Ok(None) => Ok(None),
            Err(err) => {
                // Keep the cookie (the session may be fine) and let the guard answer 503.
                tracing::error!(error = %err, "cannot load session");
                Ok(Some(HashMap::from([(
                    UNAVAILABLE_KEY.into(),
                    "true".into(),
                )])))
            }
        }
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        _ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let grant: LoginGrant = state
            .get(LOGIN_KEY)
            .and_then(|value| serde_json::from_str(value).ok())
            .ok_or_else(|| {
                // Sessions are only ever created by signing in; anonymous visitors get none.
                SaveError::Other(anyhow::anyhow!(
                    "refusing to store a session without a sign-in"
                ))
            })?;
        let token = secrets::random_token();
        let token_hash = secrets::sha256_hex(&token);
        let data = persistent_data(&state);
        // the row and its data commit together: never a session without its sign-in; a new
        // session changes nothing a cache holds nor anything a live page shows (they show
        // conversations), so it moves no counter: a storm of sign-ins leaves them all alone
        crate::db::run_write(&self.pool, move |conn| {
            crate::db::session_transaction(conn, |conn| {
                sessions::create(
                    conn,
                    &NewSession {
                        token_hash: &token_hash,
                        company_id: grant.company_id,
                        user_id: grant.user_id,
                        csrf_token: &secrets::random_token(),
                        ip: &grant.ip,
                        user_agent: &grant.user_agent,
                    },
                )?;
                sessions::save_data(conn, &token_hash, &data)
            })
        })
        .await
        .map_err(|err| SaveError::Other(anyhow::Error::from(err)))?;
        SessionKey::try_from(token).map_err(|err| SaveError::Other(anyhow::anyhow!(err)))
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        _ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let token_hash = secrets::sha256_hex(key.as_ref());
        let data = persistent_data(&state);
        let cache = self.cache.clone();
        crate::db::run_write(&self.pool, move |conn| {
            // other instances forget their copy of this session (its flash messages)
            crate::db::session_transaction(conn, |conn| {
                sessions::save_data(conn, &token_hash, &data)?;
                changes::announce(conn, &Changed::Session(token_hash.clone()))
            })?;
            cache.set_data(&token_hash, &data);
            Ok(())
        })
        .await
        .map_err(|err| UpdateError::Other(anyhow::Error::from(err)))?;
        Ok(key)
    }

    async fn update_ttl(&self, _key: &SessionKey, _ttl: &Duration) -> Result<(), anyhow::Error> {
        // Lifetimes are enforced on the server from company settings, not by cookie TTLs.
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let token_hash = secrets::sha256_hex(key.as_ref());
        self.cache.forget(&token_hash);
        crate::db::run_write(&self.pool, move |conn| {
            // other instances forget their copy at once, not when it ages out
            crate::db::session_transaction(conn, |conn| {
                sessions::revoke_by_token_hash(conn, &token_hash, "signed out")?;
                changes::announce(conn, &Changed::Session(token_hash.clone()))?;
                Ok(())
            })
        })
        .await
        .map_err(anyhow::Error::from)
    }
}

/// The session of the current request, as loaded by the store.
pub fn auth_from_state(session: &actix_session::Session) -> Option<SessionAuth> {
    session.get::<SessionAuth>(AUTH_KEY).ok().flatten()
}
