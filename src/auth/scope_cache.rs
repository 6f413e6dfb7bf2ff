//! Each signed-in viewer's visibility scope (`domain::visibility::Scope`: the channels they
//! see wholly, those where they see their own work, the labels hidden from their role) as
//! last read, so that a page, its badge and a live poll cost no three reads for it.
//!
//! Kept exactly as the session cache keeps sessions, whose role and permissions it sits
//! beside (the same [`ReadStamp`](crate::auth::session_cache::ReadStamp) rule): every change
//! this instance commits through `db::write_transaction` (channel and team membership, label
//! restrictions, roles, offboarding) advances [`Pool::commits`](crate::db::Pool::commits) and
//! so retires every entry at once; a change made by another instance or the command line
//! reaches this one within [`FRESH_FOR`](crate::auth::session_cache::FRESH_FOR) (announced, or
//! aged out). Only reads use it: a change (`Cx::write`) always reads the scope it acts under
//! inside its own transaction.

use crate::auth::fresh_cache::FreshCache;
use crate::core::ids::UserId;
use crate::core::permissions::PermissionSet;
use crate::db::CacheClock;
use crate::domain::visibility::Scope;

/// Each viewer's scope with the permissions it was worked out for: a scope read under other
/// permissions (a role edited since) is not this viewer's.
#[derive(Default)]
pub struct ScopeCache(FreshCache<UserId, (PermissionSet, Scope)>);

impl ScopeCache {
    /// The scope of `user` under `permissions`, if a fresh entry holds it; `now` is the
    /// pool's [`CacheClock`] now.
    pub fn get(&self, user: UserId, permissions: PermissionSet, now: &CacheClock) -> Option<Scope> {
        let (read_under, scope) = self.0.get(&user, now)?;
        (read_under == permissions).then_some(scope)
    }

    /// How many scopes were read from the database and kept (each miss of the cache).
    pub fn reads(&self) -> u64 {
        self.0.reads()
    }

    /// Keeps what was read; `read` is the pool's [`CacheClock`] taken before the read.
    pub fn put(&self, user: UserId, permissions: PermissionSet, scope: Scope, read: &CacheClock) {
        self.0.put(user, (permissions, scope), read);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::fresh_cache::at;
    use crate::core::permissions::Permission;
    use crate::domain::visibility::Reach;

    fn scope() -> Scope {
        Scope {
            reach: Reach::Company,
            hidden_labels: Vec::new(),
        }
    }

    #[test]
    fn an_entry_serves_for_less_than_a_second_and_only_without_a_commit_since() {
        let cache = ScopeCache::default();
        let user = UserId(7);
        let perms = PermissionSet::default();
        cache.put(user, perms, scope(), &at(10, 0, 3));
        cache.put(UserId(9), perms, scope(), &at(10, 0, 3));
        assert_eq!(cache.reads(), 2);
        assert_eq!(cache.get(UserId(9), perms, &at(10, 0, 3)), Some(scope()));
        assert_eq!(cache.get(user, perms, &at(10, 0, 3)), Some(scope()));
        assert_eq!(cache.get(user, perms, &at(10, 999, 3)), Some(scope()));
        assert_eq!(cache.get(user, perms, &at(11, 0, 3)), None, "aged out");
        assert_eq!(
            cache.get(user, perms, &at(10, 1, 4)),
            None,
            "a commit since"
        );
        assert_eq!(
            cache.get(user, perms, &at(9, 999, 3)),
            None,
            "clock set back"
        );
        assert_eq!(
            cache.get(UserId(8), perms, &at(10, 1, 3)),
            None,
            "someone else"
        );
    }

    #[test]
    fn a_scope_serves_only_the_permissions_it_was_read_under() {
        let cache = ScopeCache::default();
        let user = UserId(7);
        let agent: PermissionSet = [Permission::ConversationsViewAssigned]
            .into_iter()
            .collect();
        cache.put(user, agent, scope(), &at(10, 0, 3));
        let mut supervisor = agent;
        supervisor.insert(Permission::ConversationsViewAll);
        assert_eq!(cache.get(user, supervisor, &at(10, 1, 3)), None);
        assert_eq!(cache.get(user, agent, &at(10, 1, 3)), Some(scope()));
    }
}
