//! The states things are in, as enums: each is stored as the lower-case text the schema's
//! CHECK constraints name, and read back strictly (an unknown value is a database error, not
//! a silent default).

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

/// A text-backed enum: `as_str`, `parse`, `Display`, and diesel reading/writing it as `Text`.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(sql_type = Text)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The variant for its stored text, or `None`.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<DB: Backend> ToSql<Text, DB> for $name
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $name
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                Self::parse(&text).ok_or_else(|| {
                    format!(concat!("unknown ", stringify!($name), " '{}'"), text).into()
                })
            }
        }
    };
}

text_enum!(
    /// A user account. Deleted users keep their row (history names them) but can do nothing.
    UserStatus {
        Active = "active",
        Deactivated = "deactivated",
        Deleted = "deleted",
    }
);

text_enum!(
    /// A conversation: open until someone closes it (a reply reopens it).
    ConversationStatus {
        Open = "open",
        Closed = "closed",
    }
);

text_enum!(
    /// A call task: open until its assignee completes it.
    CallStatus {
        Open = "open",
        Done = "done",
    }
);

text_enum!(
    /// Who wrote a message: the customer, an agent to the customer, or an agent for colleagues.
    Direction {
        Inbound = "inbound",
        Outbound = "outbound",
        Note = "note",
    }
);

text_enum!(
    /// The messaging network a channel is connected to.
    ChannelKind {
        Whatsapp = "whatsapp",
        Instagram = "instagram",
        Messenger = "messenger",
        Telegram = "telegram",
        Sms = "sms",
        Voip = "voip",
    }
);

impl ChannelKind {
    /// The name people know the network by.
    pub fn label(self) -> &'static str {
        match self {
            Self::Whatsapp => "WhatsApp",
            Self::Instagram => "Instagram",
            Self::Messenger => "Facebook Messenger",
            Self::Telegram => "Telegram",
            Self::Sms => "SMS",
            Self::Voip => "VOIP",
        }
    }
}

impl ConversationStatus {
    pub fn is_open(self) -> bool {
        self == Self::Open
    }
}

impl CallStatus {
    pub fn is_open(self) -> bool {
        self == Self::Open
    }
}

impl Direction {
    pub fn is_outbound(self) -> bool {
        self == Self::Outbound
    }

    pub fn is_note(self) -> bool {
        self == Self::Note
    }
}

text_enum!(
    /// Whether a person takes new chats now: routing gives new conversations only to those
    /// online. Signing in makes a user online; signing out or idling out, offline.
    Availability {
        Online = "online",
        Away = "away",
        Offline = "offline",
    }
);

text_enum!(
    /// A message template version: drafted, submitted for approval, then approved (immutable
    /// from then on) or rejected (with a reason; editing makes it a draft again).
    TemplateStatus {
        Draft = "draft",
        Submitted = "submitted",
        Approved = "approved",
        Rejected = "rejected",
    }
);

text_enum!(
    /// What a template is for, as WhatsApp classifies them.
    TemplateCategory {
        Marketing = "marketing",
        Utility = "utility",
        Authentication = "authentication",
    }
);

text_enum!(
    /// A broadcast: drafted, submitted, approved by a second person, then sending until every
    /// recipient has it (or someone cancels it).
    BroadcastStatus {
        Draft = "draft",
        Submitted = "submitted",
        Approved = "approved",
        Rejected = "rejected",
        Sending = "sending",
        Sent = "sent",
        Cancelled = "cancelled",
    }
);

text_enum!(
    /// A request for a second person's decision.
    ApprovalStatus {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
        Withdrawn = "withdrawn",
        Expired = "expired",
    }
);

text_enum!(
    /// What an approval request is about.
    ApprovalKind {
        Template = "template",
        Broadcast = "broadcast",
        RoleRaise = "role_raise",
        /// A change of the company's security settings (the subject is the company).
        Settings = "settings",
    }
);

text_enum!(
    /// An access review: open while decisions are taken, closed (immutable) once all are.
    ReviewStatus {
        Open = "open",
        Closed = "closed",
    }
);

text_enum!(
    /// What a reviewer decided about one user's access.
    ReviewDecision {
        Keep = "keep",
        Change = "change",
        Revoke = "revoke",
    }
);

impl UserStatus {
    pub fn is_active(self) -> bool {
        self == Self::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_reads_back_from_its_text() {
        for status in UserStatus::ALL {
            assert_eq!(UserStatus::parse(status.as_str()), Some(*status));
        }
        for kind in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(ConversationStatus::parse("Open"), None);
        assert_eq!(CallStatus::parse("done"), Some(CallStatus::Done));
    }
}
