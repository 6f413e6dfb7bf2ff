//! The closed catalog of permissions (the keys of CONTRACT.md) and sets of them.

use std::fmt;

/// One page permission. The string keys are part of the contract; never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    ConversationsViewAssigned,
    ConversationsViewChannel,
    ConversationsViewTeam,
    ConversationsViewAll,
    ConversationsReply,
    ConversationsTransfer,
    ConversationsClose,
    ContactsViewUnmasked,
    ContactsReveal,
    ChannelsView,
    ChannelsManage,
    ChannelsAssign,
    UsersView,
    UsersManage,
    RolesManage,
    ReportsView,
    ExportsCreate,
    ActivityView,
    LoginsView,
    SessionsManage,
    SettingsManage,
    TemplatesManage,
    TemplatesApprove,
    BroadcastsCreate,
    BroadcastsApprove,
    TeamsManage,
    ReviewsRun,
    PrivacyManage,
}

/// The page a permission belongs to, for the roles matrix and the effective-access view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageGroup {
    Conversations,
    Contacts,
    Channels,
    Users,
    Roles,
    Reports,
    Exports,
    Activity,
    LoginHistory,
    Sessions,
    Settings,
    Templates,
    Broadcasts,
    Teams,
    Reviews,
    Privacy,
}

impl PageGroup {
    pub fn label(self) -> &'static str {
        match self {
            Self::Conversations => "Conversations",
            Self::Contacts => "Contacts",
            Self::Channels => "Channels",
            Self::Users => "Users",
            Self::Roles => "Roles",
            Self::Reports => "Reports",
            Self::Exports => "Exports",
            Self::Activity => "Activity",
            Self::LoginHistory => "Login history",
            Self::Sessions => "Sessions",
            Self::Settings => "Settings",
            Self::Templates => "Templates and quick replies",
            Self::Broadcasts => "Broadcasts",
            Self::Teams => "Teams",
            Self::Reviews => "Access reviews",
            Self::Privacy => "Privacy",
        }
    }
}

impl Permission {
    pub const ALL: [Permission; 28] = [
        Self::ConversationsViewAssigned,
        Self::ConversationsViewChannel,
        Self::ConversationsViewTeam,
        Self::ConversationsViewAll,
        Self::ConversationsReply,
        Self::ConversationsTransfer,
        Self::ConversationsClose,
        Self::ContactsViewUnmasked,
        Self::ContactsReveal,
        Self::ChannelsView,
        Self::ChannelsManage,
        Self::ChannelsAssign,
        Self::UsersView,
        Self::UsersManage,
        Self::RolesManage,
        Self::ReportsView,
        Self::ExportsCreate,
        Self::ActivityView,
        Self::LoginsView,
        Self::SessionsManage,
        Self::SettingsManage,
        Self::TemplatesManage,
        Self::TemplatesApprove,
        Self::BroadcastsCreate,
        Self::BroadcastsApprove,
        Self::TeamsManage,
        Self::ReviewsRun,
        Self::PrivacyManage,
    ];

    /// The Agent built-in role.
    pub const AGENT: [Permission; 3] = [
        Self::ConversationsViewAssigned,
        Self::ConversationsReply,
        Self::ConversationsClose,
    ];

    /// Any of these lets a user open the conversation list.
    pub const VIEW_CONVERSATIONS: [Permission; 4] = [
        Self::ConversationsViewAssigned,
        Self::ConversationsViewChannel,
        Self::ConversationsViewTeam,
        Self::ConversationsViewAll,
    ];

    /// What a role's "only within my teams" flag limits to the holder's teams.
    pub const LIMITED_BY_TEAMS: [Permission; 2] = [Self::UsersManage, Self::ChannelsAssign];

    /// This permission's line of the catalog.
    fn entry(self) -> &'static Entry {
        // CATALOG lists the permissions in declaration order (a test holds it to that)
        &CATALOG[self as usize]
    }

    /// The contract's key (`conversations.view_all`).
    pub fn key(self) -> &'static str {
        self.entry().key
    }

    pub fn from_key(key: &str) -> Option<Self> {
        CATALOG.iter().find(|e| e.key == key).map(|e| e.permission)
    }

    pub fn group(self) -> PageGroup {
        self.entry().group
    }

    /// A short plain name, what people read first ("See all conversations").
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// One line saying what the permission opens.
    pub fn description(self) -> &'static str {
        self.entry().description
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// One line of the permission catalog.
struct Entry {
    permission: Permission,
    key: &'static str,
    group: PageGroup,
    name: &'static str,
    description: &'static str,
}

const fn entry(
    permission: Permission,
    key: &'static str,
    group: PageGroup,
    name: &'static str,
    description: &'static str,
) -> Entry {
    Entry {
        permission,
        key,
        group,
        name,
        description,
    }
}

/// The catalog: every permission once, in declaration order, with its key, page, name and
/// description. The one place to read or extend.
const CATALOG: [Entry; 28] = {
    use PageGroup as G;
    use Permission as P;
    [
        entry(
            P::ConversationsViewAssigned,
            "conversations.view_assigned",
            G::Conversations,
            "See own conversations",
            "See conversations assigned to them on their channels",
        ),
        entry(
            P::ConversationsViewChannel,
            "conversations.view_channel",
            G::Conversations,
            "See their channels' conversations",
            "See every conversation on their channels",
        ),
        entry(
            P::ConversationsViewTeam,
            "conversations.view_team",
            G::Conversations,
            "See their teams' conversations",
            "See every conversation on the channels of their teams",
        ),
        entry(
            P::ConversationsViewAll,
            "conversations.view_all",
            G::Conversations,
            "See all conversations",
            "See every conversation of the company",
        ),
        entry(
            P::ConversationsReply,
            "conversations.reply",
            G::Conversations,
            "Reply and write notes",
            "Reply to conversations they can see",
        ),
        entry(
            P::ConversationsTransfer,
            "conversations.transfer",
            G::Conversations,
            "Transfer conversations",
            "Transfer conversations to another agent",
        ),
        entry(
            P::ConversationsClose,
            "conversations.close",
            G::Conversations,
            "Close and reopen",
            "Close and reopen conversations",
        ),
        entry(
            P::ContactsViewUnmasked,
            "contacts.view_unmasked",
            G::Contacts,
            "See full contact details",
            "See customers' full phone numbers and emails",
        ),
        entry(
            P::ContactsReveal,
            "contacts.reveal",
            G::Contacts,
            "Reveal a contact once",
            "Reveal one contact's details with a logged reason",
        ),
        entry(
            P::ChannelsView,
            "channels.view",
            G::Channels,
            "See channels",
            "See channels and their members",
        ),
        entry(
            P::ChannelsManage,
            "channels.manage",
            G::Channels,
            "Manage channels",
            "Create, rename and disable channels; see webhook tokens",
        ),
        entry(
            P::ChannelsAssign,
            "channels.assign",
            G::Channels,
            "Assign people to channels",
            "Assign users to channels",
        ),
        entry(
            P::UsersView,
            "users.view",
            G::Users,
            "See the team",
            "See the team and each user's page",
        ),
        entry(
            P::UsersManage,
            "users.manage",
            G::Users,
            "Manage users",
            "Add, edit, deactivate, offboard and delete users",
        ),
        entry(
            P::RolesManage,
            "roles.manage",
            G::Roles,
            "Manage roles",
            "Create and edit custom roles",
        ),
        entry(
            P::ReportsView,
            "reports.view",
            G::Reports,
            "See reports",
            "See reports",
        ),
        entry(
            P::ExportsCreate,
            "exports.create",
            G::Exports,
            "Export to CSV",
            "Download CSV exports of pages they can see",
        ),
        entry(
            P::ActivityView,
            "activity.view",
            G::Activity,
            "See the activity log",
            "See the activity (audit) log",
        ),
        entry(
            P::LoginsView,
            "logins.view",
            G::LoginHistory,
            "See the login history",
            "See login history",
        ),
        entry(
            P::SessionsManage,
            "sessions.manage",
            G::Sessions,
            "See and end sessions",
            "See and end the company's sessions",
        ),
        entry(
            P::SettingsManage,
            "settings.manage",
            G::Settings,
            "Change security settings",
            "Change the company's security settings",
        ),
        entry(
            P::TemplatesManage,
            "templates.manage",
            G::Templates,
            "Write templates and shared quick replies",
            "Draft message templates and submit them for approval; write the company's shared quick replies",
        ),
        entry(
            P::TemplatesApprove,
            "templates.approve",
            G::Templates,
            "Approve templates",
            "Approve or reject submitted message templates (never one's own)",
        ),
        entry(
            P::BroadcastsCreate,
            "broadcasts.create",
            G::Broadcasts,
            "Create broadcasts",
            "Draft broadcasts of approved templates, see their audience size, send approved ones",
        ),
        entry(
            P::BroadcastsApprove,
            "broadcasts.approve",
            G::Broadcasts,
            "Approve broadcasts",
            "Approve or reject submitted broadcasts (never one's own)",
        ),
        entry(
            P::TeamsManage,
            "teams.manage",
            G::Teams,
            "Manage teams",
            "Create teams and choose their members, leads and channels",
        ),
        entry(
            P::ReviewsRun,
            "reviews.run",
            G::Reviews,
            "Run access reviews",
            "Start access reviews, keep, change or revoke each user's access, close them as evidence",
        ),
        entry(
            P::PrivacyManage,
            "privacy.manage",
            G::Privacy,
            "Answer data-subject requests",
            "Export everything held about a customer (GDPR/KVKK access requests)",
        ),
    ]
};

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// What a role grants, as a bit set: cheap to copy, cache and test. One bit per permission,
/// and one more for the role flag "only within my teams" (it narrows
/// [`Permission::LIMITED_BY_TEAMS`] to the holder's teams; it is not a permission, so
/// [`PermissionSet::iter`] never yields it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u32);

const TEAMS_ONLY_BIT: u32 = 1 << 31;

impl PermissionSet {
    pub fn empty() -> Self {
        Self(0)
    }

    pub fn all() -> Self {
        Permission::ALL.into_iter().collect()
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    pub fn contains_any(self, permissions: &[Permission]) -> bool {
        permissions.iter().any(|p| self.contains(*p))
    }

    /// Whether a user with these permissions can be assigned conversations (sees them).
    pub fn can_hold_assigned(self) -> bool {
        self.contains_any(&Permission::VIEW_CONVERSATIONS)
    }

    /// Whether new chats go to a holder by default: only to those who see nothing but what
    /// is assigned to them (agents), never to someone who watches a channel or the company.
    pub fn receives_new_chats_by_default(self) -> bool {
        self.contains(Permission::ConversationsViewAssigned)
            && !self.contains(Permission::ConversationsViewChannel)
            && !self.contains(Permission::ConversationsViewTeam)
            && !self.contains(Permission::ConversationsViewAll)
    }

    /// Whether the role's user and channel management stops at the holder's teams.
    pub fn limited_to_teams(self) -> bool {
        self.0 & TEAMS_ONLY_BIT != 0
    }

    /// The same set with the "only within my teams" flag set or cleared.
    pub fn with_teams_only(self, teams_only: bool) -> Self {
        if teams_only {
            Self(self.0 | TEAMS_ONLY_BIT)
        } else {
            Self(self.0 & !TEAMS_ONLY_BIT)
        }
    }

    /// Whether a holder of `self` can do everything a holder of `other` can: every permission
    /// of `other`, and no team limit `other` does not have on the permissions it limits. The
    /// rule of "who may act on whom" and of what a role may grant.
    pub fn covers(self, other: PermissionSet) -> bool {
        let every_permission = other.iter().all(|p| self.contains(p));
        let limited_more = self.limited_to_teams()
            && !other.limited_to_teams()
            && other.contains_any(&Permission::LIMITED_BY_TEAMS);
        every_permission && !limited_more
    }

    pub fn insert(&mut self, permission: Permission) {
        self.0 |= permission.bit();
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// Builds a set from stored keys; keys no longer in the catalog are ignored.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        keys.into_iter().filter_map(Permission::from_key).collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = Self::empty();
        for permission in iter {
            set.insert(permission);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_lists_each_permission_once_in_order() {
        for (i, permission) in Permission::ALL.into_iter().enumerate() {
            assert_eq!(CATALOG[i].permission, permission);
            assert_eq!(permission as usize, i);
            assert!(!permission.name().is_empty());
        }
    }

    #[test]
    fn keys_round_trip_and_are_unique() {
        let mut keys: Vec<_> = Permission::ALL.iter().map(|p| p.key()).collect();
        for p in Permission::ALL {
            assert_eq!(Permission::from_key(p.key()), Some(p));
        }
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 28);
        assert_eq!(Permission::from_key("users.delete_everything"), None);
    }

    #[test]
    fn sets_hold_exactly_what_was_inserted() {
        let agent: PermissionSet = Permission::AGENT.into_iter().collect();
        assert!(agent.contains(Permission::ConversationsReply));
        assert!(!agent.contains(Permission::UsersView));
        assert_eq!(agent.iter().count(), 3);
        assert_eq!(PermissionSet::all().iter().count(), 28);
    }

    #[test]
    fn a_team_limit_is_less_than_no_limit() {
        let manage: PermissionSet = [Permission::UsersManage, Permission::UsersView]
            .into_iter()
            .collect();
        let lead = manage.with_teams_only(true);
        assert!(lead.limited_to_teams());
        assert_eq!(lead.iter().count(), 2, "the flag is not a permission");
        assert!(manage.covers(lead));
        assert!(lead.covers(lead));
        assert!(
            !lead.covers(manage),
            "a team lead cannot act on an unlimited manager"
        );
        // the limit matters only for what it limits
        let viewer: PermissionSet = [Permission::UsersView].into_iter().collect();
        assert!(lead.covers(viewer));
        assert!(!viewer.covers(lead));
    }
}
