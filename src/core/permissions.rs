//! The closed catalog of permissions (the keys of CONTRACT.md) and sets of them.

use std::fmt;

/// One page permission. The string keys are part of the contract; never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    ConversationsViewAssigned,
    ConversationsViewChannel,
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
        }
    }
}

impl Permission {
    pub const ALL: [Permission; 20] = [
        Self::ConversationsViewAssigned,
        Self::ConversationsViewChannel,
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
    ];

    /// The Agent built-in role.
    pub const AGENT: [Permission; 3] = [
        Self::ConversationsViewAssigned,
        Self::ConversationsReply,
        Self::ConversationsClose,
    ];

    /// Any of these lets a user open the conversation list.
    pub const VIEW_CONVERSATIONS: [Permission; 3] = [
        Self::ConversationsViewAssigned,
        Self::ConversationsViewChannel,
        Self::ConversationsViewAll,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Self::ConversationsViewAssigned => "conversations.view_assigned",
            Self::ConversationsViewChannel => "conversations.view_channel",
            Self::ConversationsViewAll => "conversations.view_all",
            Self::ConversationsReply => "conversations.reply",
            Self::ConversationsTransfer => "conversations.transfer",
            Self::ConversationsClose => "conversations.close",
            Self::ContactsViewUnmasked => "contacts.view_unmasked",
            Self::ContactsReveal => "contacts.reveal",
            Self::ChannelsView => "channels.view",
            Self::ChannelsManage => "channels.manage",
            Self::ChannelsAssign => "channels.assign",
            Self::UsersView => "users.view",
            Self::UsersManage => "users.manage",
            Self::RolesManage => "roles.manage",
            Self::ReportsView => "reports.view",
            Self::ExportsCreate => "exports.create",
            Self::ActivityView => "activity.view",
            Self::LoginsView => "logins.view",
            Self::SessionsManage => "sessions.manage",
            Self::SettingsManage => "settings.manage",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == key)
    }

    pub fn group(self) -> PageGroup {
        match self {
            Self::ConversationsViewAssigned
            | Self::ConversationsViewChannel
            | Self::ConversationsViewAll
            | Self::ConversationsReply
            | Self::ConversationsTransfer
            | Self::ConversationsClose => PageGroup::Conversations,
            Self::ContactsViewUnmasked | Self::ContactsReveal => PageGroup::Contacts,
            Self::ChannelsView | Self::ChannelsManage | Self::ChannelsAssign => PageGroup::Channels,
            Self::UsersView | Self::UsersManage => PageGroup::Users,
            Self::RolesManage => PageGroup::Roles,
            Self::ReportsView => PageGroup::Reports,
            Self::ExportsCreate => PageGroup::Exports,
            Self::ActivityView => PageGroup::Activity,
            Self::LoginsView => PageGroup::LoginHistory,
            Self::SessionsManage => PageGroup::Sessions,
            Self::SettingsManage => PageGroup::Settings,
        }
    }

    /// One line saying what the permission opens.
    pub fn description(self) -> &'static str {
        match self {
            Self::ConversationsViewAssigned => {
                "See conversations assigned to them on their channels"
            }
            Self::ConversationsViewChannel => "See every conversation on their channels",
            Self::ConversationsViewAll => "See every conversation of the company",
            Self::ConversationsReply => "Reply to conversations they can see",
            Self::ConversationsTransfer => "Transfer conversations to another agent",
            Self::ConversationsClose => "Close and reopen conversations",
            Self::ContactsViewUnmasked => "See customers' full phone numbers and emails",
            Self::ContactsReveal => "Reveal one contact's details with a logged reason",
            Self::ChannelsView => "See channels and their members",
            Self::ChannelsManage => "Create, rename and disable channels; see webhook tokens",
            Self::ChannelsAssign => "Assign users to channels",
            Self::UsersView => "See the team and each user's page",
            Self::UsersManage => "Add, edit, deactivate, offboard and delete users",
            Self::RolesManage => "Create and edit custom roles",
            Self::ReportsView => "See reports",
            Self::ExportsCreate => "Download CSV exports of pages they can see",
            Self::ActivityView => "See the activity (audit) log",
            Self::LoginsView => "See login history",
            Self::SessionsManage => "See and end the company's sessions",
            Self::SettingsManage => "Change the company's security settings",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A set of permissions as a bit set: cheap to copy, cache and test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PermissionSet(u32);

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
    fn keys_round_trip_and_are_unique() {
        let mut keys: Vec<_> = Permission::ALL.iter().map(|p| p.key()).collect();
        for p in Permission::ALL {
            assert_eq!(Permission::from_key(p.key()), Some(p));
        }
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 20);
        assert_eq!(Permission::from_key("users.delete_everything"), None);
    }

    #[test]
    fn sets_hold_exactly_what_was_inserted() {
        let agent: PermissionSet = Permission::AGENT.into_iter().collect();
        assert!(agent.contains(Permission::ConversationsReply));
        assert!(!agent.contains(Permission::UsersView));
        assert_eq!(agent.iter().count(), 3);
        assert_eq!(PermissionSet::all().iter().count(), 20);
    }
}
