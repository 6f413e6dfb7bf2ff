//! The visibility rule, decided here and nowhere else. Conversations and call tasks turn the
//! scope into a filter on their own columns with [`scope_filter!`] (`conversations::visible_to`,
//! `calls::visible_to`); every query for either goes through those filters.

use crate::core::ids::{ChannelId, UserId};
use crate::core::permissions::Permission;
use crate::db::DbConnection;
use crate::domain::{Viewer, channels, teams};
use crate::error::AppError;

/// What part of their company's conversations and call tasks a viewer may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
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

impl Scope {
    /// The channels the scope is limited to; `None` for the whole company.
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

    /// Whether the scope reads the assignee (not only the company and channel) of a row.
    pub fn reads_assignee(&self) -> bool {
        matches!(
            self,
            Self::Limited {
                assigned: Some(_),
                ..
            }
        )
    }

    /// The one person whose work the scope is limited to, when it sees no channel wholly.
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
}

impl Scope {
    /// The scope as a condition in hand-written SQL (reports): the same cases as
    /// [`scope_filter!`], next to it so they cannot drift apart.
    pub fn push_sql(
        &self,
        query: &mut crate::db::raw::RawSql,
        columns: &ScopeColumns,
        company_id: crate::core::ids::CompanyId,
    ) {
        query.sql(columns.company_id).sql(" = ").int(company_id.0);
        match self {
            Self::Company => {}
            Self::Limited { whole, assigned } => {
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
            Self::Nothing => {
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
    let perms = viewer.permissions;
    if perms.contains(Permission::ConversationsViewAll) {
        return Ok(Scope::Company);
    }
    let (by_channel, by_team, by_assignment) = (
        perms.contains(Permission::ConversationsViewChannel),
        perms.contains(Permission::ConversationsViewTeam),
        perms.contains(Permission::ConversationsViewAssigned),
    );
    if !(by_channel || by_team || by_assignment) {
        return Ok(Scope::Nothing);
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
    Ok(Scope::Limited { whole, assigned })
}

/// Defines `visible_to(conn, viewer)`: [`scope`] as a boxed filter on a table that has
/// `company_id`, `channel_id` and `assignee_id`, usable in any query that selects from it.
/// One macro, so conversations and call tasks cannot drift apart.
macro_rules! scope_filter {
    ($vis:vis $table:ident) => {
        /// The visibility rule (`domain::visibility::scope`) as a filter on this table.
        $vis fn visible_to<QS>(
            conn: &mut $crate::db::DbConnection,
            viewer: &$crate::domain::Viewer,
        ) -> Result<
            Box<
                dyn diesel::expression::BoxableExpression<
                        QS,
                        $crate::db::MultiBackend,
                        SqlType = diesel::sql_types::Bool,
                    >,
            >,
            $crate::error::AppError,
        >
        where
            QS: 'static,
            $table::company_id: diesel::SelectableExpression<QS>,
            $table::channel_id: diesel::SelectableExpression<QS>,
        {
            use diesel::dsl::sql;
            use diesel::sql_types::{BigInt, Bool};
            use $crate::domain::visibility::{Scope, scope};
            let same_company = $table::company_id.eq(viewer.company_id);
            Ok(match scope(conn, viewer)? {
                Scope::Company => Box::new(same_company),
                Scope::Limited { whole, assigned } => {
                    let seen: Box<
                        dyn diesel::expression::BoxableExpression<
                                QS,
                                $crate::db::MultiBackend,
                                SqlType = diesel::sql_types::Bool,
                            >,
                    > = Box::new($table::channel_id.eq_any(whole));
                    let seen = match assigned {
                        None => seen,
                        Some(assigned) => {
                            // `assignee_id = ?` as a literal keeps the filter non-nullable for
                            // every query source (a left join makes the column nullable)
                            let theirs = sql::<Bool>(concat!(stringify!($table), ".assignee_id = "))
                                .bind::<BigInt, _>(assigned.user_id);
                            Box::new(seen.or($table::channel_id.eq_any(assigned.channels).and(theirs)))
                        }
                    };
                    Box::new(same_company.and(seen))
                }
                Scope::Nothing => Box::new(sql::<Bool>("1 = 0")),
            })
        }
    };
}
pub(crate) use scope_filter;
