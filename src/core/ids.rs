//! Typed ids: a `UserId` cannot be passed where a `ChannelId` is expected. Each is an `i64` in
//! both databases (diesel reads and writes it as `BigInt`), a number in paths and forms.

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};

macro_rules! ids {
    ($($(#[$meta:meta])* $name:ident;)+) => {$(
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, DieselNewType, Serialize,
            Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                text.trim().parse().map($name)
            }
        }
    )+};
}

ids! {
    CompanyId;
    UserId;
    RoleId;
    ChannelId;
    ContactId;
    ConversationId;
    MessageId;
    CallTaskId;
    /// A row of `sessions` (never the cookie's token, which only the browser holds).
    SessionId;
    AuditEventId;
    QuickReplyId;
    TeamId;
    LabelId;
    TemplateId;
    BroadcastId;
    ApprovalId;
    NotificationId;
    AccessReviewId;
}
