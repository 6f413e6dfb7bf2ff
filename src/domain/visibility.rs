//! The visibility rule, decided here and nowhere else. Conversations and call tasks turn the
//! scope into a filter on their own columns with [`scope_filter!`] (`conversations::visible_to`,
//! `calls::visible_to`); every query for either goes through those filters.

use crate::core::ids::{ChannelId, UserId};
use crate::core::permissions::Permission;
use crate::db::DbConnection;
use crate::domain::{Viewer, channels};
use crate::error::AppError;

/// What part of their company's conversations and call tasks a viewer may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `conversations.view_all`: everything of the company.
    Company,
    /// `conversations.view_channel`: everything on the channels they are a member of.
    Channels(Vec<ChannelId>),
    /// `conversations.view_assigned`: what is assigned to them, on channels they are a member of.
    AssignedOnChannels {
        channels: Vec<ChannelId>,
        user_id: UserId,
    },
    /// None of the three.
    Nothing,
}

impl Scope {
    /// The channels the scope is limited to; `None` for the whole company.
    pub fn channel_limit(&self) -> Option<&[ChannelId]> {
        match self {
            Self::Company => None,
            Self::Channels(channels) | Self::AssignedOnChannels { channels, .. } => Some(channels),
            Self::Nothing => Some(&[]),
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
            Self::Channels(channels) => {
                query
                    .sql(" AND ")
                    .sql(columns.channel_id)
                    .sql(" IN ")
                    .ints(channels.iter().map(|c| c.0));
            }
            Self::AssignedOnChannels { channels, user_id } => {
                query
                    .sql(" AND ")
                    .sql(columns.channel_id)
                    .sql(" IN ")
                    .ints(channels.iter().map(|c| c.0))
                    .sql(" AND ")
                    .sql(columns.assignee_id)
                    .sql(" = ")
                    .int(user_id.0);
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
    if perms.contains(Permission::ConversationsViewChannel) {
        return Ok(Scope::Channels(channels::member_channel_ids(
            conn,
            viewer.user_id,
        )?));
    }
    if perms.contains(Permission::ConversationsViewAssigned) {
        return Ok(Scope::AssignedOnChannels {
            channels: channels::member_channel_ids(conn, viewer.user_id)?,
            user_id: viewer.user_id,
        });
    }
    Ok(Scope::Nothing)
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
                Scope::Channels(channels) => {
                    Box::new(same_company.and($table::channel_id.eq_any(channels)))
                }
                Scope::AssignedOnChannels { channels, user_id } => {
                    // `assignee_id = ?` as a literal keeps the filter non-nullable for every
                    // query source (a left join makes the column nullable)
                    let assigned = sql::<Bool>(concat!(stringify!($table), ".assignee_id = "))
                        .bind::<BigInt, _>(user_id);
                    Box::new(
                        same_company
                            .and($table::channel_id.eq_any(channels))
                            .and(assigned),
                    )
                }
                Scope::Nothing => Box::new(sql::<Bool>("1 = 0")),
            })
        }
    };
}
pub(crate) use scope_filter;
