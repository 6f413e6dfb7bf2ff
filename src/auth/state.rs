//! What every request can reach: the pool, the configuration, the permission cache, the
//! cookie key and the GeoIP reader. Built once at start-up, shared by every worker.

use std::collections::HashMap;
use std::sync::RwLock;

use actix_web::cookie::Key;
use anyhow::Context as _;

use crate::config::Config;
use crate::core::ids::RoleId;
use crate::core::permissions::PermissionSet;
use crate::db::{self, Pool};

pub type ChannelCache = crate::auth::fresh_cache::FreshCache<
    crate::core::ids::CompanyId,
    std::sync::Arc<Vec<crate::domain::channels::Channel>>,
>;

/// What every request can reach: the pool, the configuration, the permission cache.
pub struct AppState {
    pub pool: Pool,
    pub config: Config,
    pub permission_cache: PermissionCache,
    /// Signs session cookies; shared by all instances through the database.
    pub cookie_key: Key,
    pub geoip: crate::auth::geoip::GeoIp,
    /// Where sign-ins check passwords: bounded, off the database connections.
    pub passwords: crate::auth::password_work::PasswordWork,
    /// Sessions as last read, shared with the session store.
    pub session_cache: std::sync::Arc<crate::auth::session_cache::SessionCache>,
    /// Viewers' visibility scopes as last read, kept as the sessions are.
    pub scope_cache: std::sync::Arc<crate::auth::scope_cache::ScopeCache>,
    /// Each company's channels as last read (the inbox's channel filter), kept the same way.
    pub channel_cache: std::sync::Arc<ChannelCache>,
    /// What the database said, at most a second ago, about changes to conversations by any
    /// instance (`domain::conversations::change_marker`; kept fresh by `serve`).
    pub changes_elsewhere: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// Each viewer's inbox as last read, kept while nothing is written (the live pages' rule)
    /// and the session cache's rule keeps it.
    pub inbox_cache: InboxCache,
    /// How each company's searches were last planned, kept a minute (a plan never changes
    /// what a search finds).
    pub search_plans: crate::auth::plan_cache::PlanCache,
}

pub type InboxCache = crate::auth::live_cache::LiveCache<
    crate::domain::conversations::InboxKey,
    crate::domain::conversations::Inbox,
>;

impl AppState {
    /// Reads (or makes, on first start) the cookie key from the database.
    pub fn new(pool: Pool, config: Config) -> anyhow::Result<Self> {
        let mut conn = pool.get().context("cannot reach the database")?;
        let secret = db::cookie_secret(&mut conn).context("cannot read the cookie key")?;
        drop(conn);
        let cookie_key = Key::try_from(secret.as_slice()).context("the cookie key")?;
        let geoip = crate::auth::geoip::GeoIp::open(config.geoip_db.as_deref());
        let passwords =
            crate::auth::password_work::PasswordWork::for_this_machine(config.password_queue);
        Ok(Self {
            passwords,
            pool,
            config,
            permission_cache: PermissionCache::default(),
            cookie_key,
            geoip,
            session_cache: Default::default(),
            scope_cache: Default::default(),
            channel_cache: Default::default(),
            changes_elsewhere: Default::default(),
            inbox_cache: Default::default(),
            search_plans: Default::default(),
        })
    }

    /// The company's channels, from the channel cache while fresh (read and kept otherwise):
    /// the inbox's channel filter on every page view costs no query.
    pub fn company_channels(
        &self,
        conn: &mut db::DbConnection,
        company: crate::core::ids::CompanyId,
    ) -> Result<std::sync::Arc<Vec<crate::domain::channels::Channel>>, crate::error::AppError> {
        // taken before the read: a commit that races the read retires what it stores
        let read = self.pool.cache_clock();
        if let Some(channels) = self.channel_cache.get(&company, &read) {
            return Ok(channels);
        }
        let channels = std::sync::Arc::new(crate::domain::channels::list(conn, company)?);
        self.channel_cache.put(company, channels.clone(), &read);
        Ok(channels)
    }

    /// Changes as the live pages compare them: this instance's writes (at once), other
    /// instances' changes to conversations (within a second) and their announced changes (at
    /// the watch's next look). Equal versions: nothing to look at again.
    pub fn live_version(&self) -> String {
        self.live_stamp().to_string()
    }

    /// [`live_version`](Self::live_version) as the inbox cache compares it.
    pub fn live_stamp(&self) -> crate::auth::live_cache::LiveStamp {
        crate::auth::live_cache::LiveStamp {
            writes: self.pool.writes(),
            commits: self.pool.commits(),
            elsewhere: self
                .changes_elsewhere
                .load(std::sync::atomic::Ordering::Acquire),
        }
    }
}

/// Permission sets by role id, each tagged with the role version it was read at. A role edit
/// bumps the version in the database; the next request on any instance sees the new version
/// in its session query and reloads.
#[derive(Debug, Default)]
pub struct PermissionCache {
    by_role: RwLock<HashMap<RoleId, (i64, PermissionSet)>>,
}

impl PermissionCache {
    pub fn get(&self, role_id: RoleId, version: i64) -> Option<PermissionSet> {
        let map = self.by_role.read().ok()?;
        map.get(&role_id)
            .filter(|(cached_version, _)| *cached_version == version)
            .map(|(_, set)| *set)
    }

    pub fn put(&self, role_id: RoleId, version: i64, set: PermissionSet) {
        if let Ok(mut map) = self.by_role.write() {
            map.insert(role_id, (version, set));
        }
    }
}
