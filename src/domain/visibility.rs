//! The visibility rule, decided here and nowhere else. Conversations and call tasks turn the
//! scope into a filter on their own columns with `scope_filter!` (`conversations::visible_to`,
//! `calls::visible_to`); every query for either goes through those filters.

use crate::core::ids::{ChannelId, LabelId, UserId};
use crate::core::permissions::Permission;
use crate::db::DbConnection;
use crate::domain::{Viewer, channels, labels, teams};
use crate::error::AppError;

/// What part of their company's conversations and call tasks a viewer may see: a reach by
/// channel and assignment, less the conversations carrying a restricted label their role may
/// not see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub reach: Reach,
    /// Conversations carrying any of these are not visible (call tasks carry no labels).
    pub hidden_labels: Vec<LabelId>,
}

impl Scope {
    /// The channels the scope is limited to; `None` for the whole company.
    pub fn channel_limit(&self) -> Option<Vec<ChannelId>> {
        self.reach.channel_limit()
    }

    /// Whether the scope reads the assignee (not only the company and channel) of a row.
    pub fn reads_assignee(&self) -> bool {
        self.reach.reads_assignee()
    }

    /// The one person whose work the scope is limited to, when it sees no channel wholly.
    pub fn only_assigned_to(&self) -> Option<UserId> {
        self.reach.only_assigned_to()
    }
}

/// Which channels' conversations and call tasks a viewer reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// `conversations.view_all`: everything of the company.
    Company,
    /// Everything on the `whole` channels — their own channels for `conversations.view_channel`,
    /// their teams' channels for `conversations.view_team` — and, for
    /// `conversations.view_assigned`, what is assigned to them on their other channels.
    Limited {
        whole: Vec<ChannelId>,
        assigned: Option<Assigned>,
    },
    /// None of the four.
    Nothing,
}

/// What is assigned to one user on some channels (channels they see nothing else of).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assigned {
    pub user_id: UserId,
    pub channels: Vec<ChannelId>,
}

impl Reach {
    /// The channels reached; `None` for the whole company.
    pub fn channel_limit(&self) -> Option<Vec<ChannelId>> {
        match self {
            Self::Company => None,
            Self::Limited { whole, assigned } => Some(
                whole
                    .iter()
                    .chain(assigned.iter().flat_map(|a| &a.channels))
                    .copied()
                    .collect(),
            ),
            Self::Nothing => Some(Vec::new()),
        }
    }

    /// Whether the reach reads the assignee (not only the company and channel) of a row.
    pub fn reads_assignee(&self) -> bool {
        matches!(
            self,
            Self::Limited {
                assigned: Some(_),
                ..
            }
        )
    }

    /// The one person whose work the reach is limited to, when it sees no channel wholly.
    pub fn only_assigned_to(&self) -> Option<UserId> {
        match self {
            Self::Limited {
                whole,
                assigned: Some(assigned),
            } if whole.is_empty() => Some(assigned.user_id),
            _ => None,
        }
    }
}

/// The columns of a table that the visibility rule reads, named as a hand-written query
/// names them (`c.channel_id`).
pub struct ScopeColumns {
    pub company_id: &'static str,
    pub channel_id: &'static str,
    pub assignee_id: &'static str,
    /// The conversation a row belongs to (`None` for call tasks, which carry no labels).
    pub conversation_id: Option<&'static str>,
}

impl Scope {
    /// The scope as a condition in hand-written SQL (reports): the same cases as
    /// `scope_filter!`, next to it so they cannot drift apart.
    pub fn push_sql(
        &self,
        query: &mut crate::db::raw::RawSql,
        columns: &ScopeColumns,
        company_id: crate::core::ids::CompanyId,
    ) {
        query.sql(columns.company_id).sql(" = ").int(company_id.0);
        if let Some(conversation) = columns.conversation_id
            && !self.hidden_labels.is_empty()
        {
            query
                .sql(" AND NOT EXISTS (SELECT 1 FROM conversation_labels hidden WHERE hidden.conversation_id = ")
                .sql(conversation)
                .sql(" AND hidden.label_id IN ")
                .ints(self.hidden_labels.iter().map(|l| l.0))
                .sql(")");
        }
        match &self.reach {
            Reach::Company => {}
            Reach::Limited { whole, assigned } => {
                query
                    .sql(" AND (")
                    .sql(columns.channel_id)
                    .sql(" IN ")
                    .ints(whole.iter().map(|c| c.0));
                if let Some(assigned) = assigned {
                    query
                        .sql(" OR (")
                        .sql(columns.channel_id)
                        .sql(" IN ")
                        .ints(assigned.channels.iter().map(|c| c.0))
                        .sql(" AND ")
                        .sql(columns.assignee_id)
                        .sql(" = ")
                        .int(assigned.user_id.0)
                        .sql(")");
                }
                query.sql(")");
            }
            Reach::Nothing => {
                query.sql(" AND 1 = 0");
            }
        }
    }
}

/// The viewer's scope, read from the database once per viewer.
pub fn scope(conn: &mut DbConnection, viewer: &Viewer) -> Result<Scope, AppError> {
    if let Some(known) = viewer.known_scope() {
        return Ok(known.clone());
    }
    let scope = read_scope(conn, viewer)?;
    Ok(viewer.remember_scope(scope))
}

fn read_scope(conn: &mut DbConnection, viewer: &Viewer) -> Result<Scope, AppError> {
    Ok(Scope {
        reach: read_reach(conn, viewer)?,
        hidden_labels: labels::hidden_from(conn, viewer.company_id, viewer.user_id)?,
    })
}

fn read_reach(conn: &mut DbConnection, viewer: &Viewer) -> Result<Reach, AppError> {
    let perms = viewer.permissions;
    if perms.contains(Permission::ConversationsViewAll) {
        return Ok(Reach::Company);
    }
    let (by_channel, by_team, by_assignment) = (
        perms.contains(Permission::ConversationsViewChannel),
        perms.contains(Permission::ConversationsViewTeam),
        perms.contains(Permission::ConversationsViewAssigned),
    );
    if !(by_channel || by_team || by_assignment) {
        return Ok(Reach::Nothing);
    }
    let mine = channels::member_channel_ids(conn, viewer.user_id)?;
    let mut whole = Vec::new();
    if by_channel {
        whole.extend(&mine);
    }
    if by_team {
        whole.extend(teams::member_channel_ids(conn, viewer.user_id)?);
    }
    whole.sort_unstable();
    whole.dedup();
    let rest: Vec<ChannelId> = mine.into_iter().filter(|c| !whole.contains(c)).collect();
    let assigned = (by_assignment && !rest.is_empty()).then_some(Assigned {
        user_id: viewer.user_id,
        channels: rest,
    });
    Ok(Reach::Limited { whole, assigned })
}

/// `NOT EXISTS` a hidden label on the conversation `conversation` (a column, program text),
/// or nothing when no label is hidden: the label part of [`Scope`] in SQL, for
/// `scope_filter!`.
pub fn hidden_labels_condition(
    hidden: &[LabelId],
    conversation: &'static str,
) -> Option<crate::db::fixed::Condition> {
    if hidden.is_empty() {
        return None;
    }
    Some(
        crate::db::fixed::Condition::sql(
            "NOT EXISTS (SELECT 1 FROM conversation_labels hidden WHERE hidden.conversation_id = ",
        )
        .then(conversation)
        .then(" AND hidden.label_id")
        .in_ids(hidden.iter().map(|l| l.0))
        .then(")"),
    )
}

/// Defines `visible_to(conn, viewer)`: [`scope`] as a boxed filter on a table that has
/// `company_id`, `channel_id` and `assignee_id`, usable in any query that selects from it;
/// with `labelled`, the table's rows are conversations and the hidden labels apply too.
/// One macro, so conversations and call tasks cannot drift apart.
macro_rules! scope_filter {
    ($vis:vis $table:ident) => {
        $crate::domain::visibility::scope_filter!($vis $table, labelled: false);
    };
    ($vis:vis $table:ident, labelled: $labelled:literal) => {
        /// The visibility rule (`domain::visibility::scope`) as a filter on this table.
        $vis fn visible_to<QS>(
            conn: &mut $crate::db::DbConnection,
            viewer: &$crate::domain::Viewer,
        ) -> Result<$crate::db::BoxedCondition<QS>, $crate::error::AppError>
        where
            QS: 'static,
            $table::company_id: diesel::SelectableExpression<QS>,
            $table::channel_id: diesel::SelectableExpression<QS>,
        {
            use $crate::db::fixed::Condition;
            use $crate::domain::visibility::{Reach, hidden_labels_condition, scope};
            let same_company = $table::company_id.eq(viewer.company_id);
            let scope = scope(conn, viewer)?;
            let hidden = if $labelled {
                hidden_labels_condition(&scope.hidden_labels, concat!(stringify!($table), ".id"))
            } else {
                None
            };
            // the channel lists are one bound value each (`db::fixed`): the statement's text
            // is the same for every viewer of a shape, so it is prepared once
            let channel = concat!(stringify!($table), ".channel_id");
            let reached: $crate::db::BoxedCondition<QS> = match scope.reach {
                Reach::Company => Box::new(same_company),
                Reach::Limited { whole, assigned } => {
                    let only_theirs = whole.is_empty();
                    let in_whole = Condition::sql(channel).in_ids(whole.iter().map(|c| c.0));
                    // the assignee named in the text, not as diesel's column: the filter stays
                    // non-nullable for every query source (a left join makes the column nullable)
                    let theirs = assigned.map(|assigned| {
                        Condition::sql(channel)
                            .in_ids(assigned.channels.iter().map(|c| c.0))
                            .then(concat!(" AND ", stringify!($table), ".assignee_id = "))
                            .int(assigned.user_id.0)
                    });
                    let seen: $crate::db::BoxedCondition<QS> = match theirs {
                        None => Box::new(in_whole),
                        // no `OR` around the assignee: the database then reads an agent's
                        // conversations from the assignee index instead of walking the company's
                        Some(theirs) if only_theirs => Box::new(theirs),
                        Some(theirs) => Box::new(in_whole.or(theirs)),
                    };
                    Box::new(same_company.and(seen))
                }
                Reach::Nothing => Box::new(Condition::sql("1 = 0")),
            };
            Ok(match hidden {
                None => reached,
                Some(condition) => Box::new(reached.and(condition)),
            })
        }
    };
}
pub(crate) use scope_filter;
