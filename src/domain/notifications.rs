//! In-app notifications: the team learns what changed. A user added, deactivated or deleted,
//! a role changed: the supervisors (holders of `users.manage`) and the people who share a
//! team with the user concerned. A channel added: the supervisors; taken out of service or
//! back: the supervisors and the channel's members. An approval waiting: the holders of the
//! permission it names. A request decided: the person who asked. Never the person who did it.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::core::ids::{CompanyId, NotificationId, UserId};
use crate::core::permissions::Permission;
use crate::core::status::UserStatus;
use crate::db::DbConnection;
use crate::db::schema::{notifications, role_permissions, roles, team_members, users};
use crate::domain::{Caller, now};
use crate::error::AppError;

/// The most a person's list shows.
pub const SHOWN: i64 = 50;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = notifications)]
pub struct Notification {
    pub id: NotificationId,
    pub kind: String,
    pub summary: String,
    pub link: Option<String>,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

/// The active users of the company whose role holds `permission` (one query).
pub fn holders_of(
    conn: &mut DbConnection,
    company_id: CompanyId,
    permission: Permission,
) -> Result<Vec<UserId>, AppError> {
    holders(conn, company_id, permission, false)
}

/// The supervisors: whoever manages users company-wide (a team lead hears of their team
/// through it, not of everyone: nothing crosses a team line).
pub fn supervisors(
    conn: &mut DbConnection,
    company_id: CompanyId,
) -> Result<Vec<UserId>, AppError> {
    holders(conn, company_id, Permission::UsersManage, true)
}

fn holders(
    conn: &mut DbConnection,
    company_id: CompanyId,
    permission: Permission,
    company_wide_only: bool,
) -> Result<Vec<UserId>, AppError> {
    let mut query = users::table
        .inner_join(role_permissions::table.on(role_permissions::role_id.eq(users::role_id)))
        .inner_join(roles::table.on(roles::id.eq(users::role_id)))
        .filter(users::company_id.eq(company_id))
        .filter(users::status.eq(UserStatus::Active))
        .filter(role_permissions::permission.eq(permission.key()))
        .select(users::id)
        .into_boxed();
    if company_wide_only {
        query = query.filter(roles::teams_only.eq(false));
    }
    Ok(query.load(conn)?)
}

/// Who hears of a change to `user`: the supervisors and their team mates (not the user).
fn team_and_supervisors(
    conn: &mut DbConnection,
    company_id: CompanyId,
    user: UserId,
) -> Result<BTreeSet<UserId>, AppError> {
    let mut recipients: BTreeSet<UserId> = supervisors(conn, company_id)?.into_iter().collect();
    let teams: Vec<crate::core::ids::TeamId> = team_members::table
        .filter(team_members::user_id.eq(user))
        .select(team_members::team_id)
        .load(conn)?;
    let mates: Vec<UserId> = team_members::table
        .filter(team_members::team_id.eq_any(teams))
        .select(team_members::user_id)
        .load(conn)?;
    recipients.extend(mates);
    // the person concerned reads it on their own page, if they still can
    recipients.remove(&user);
    Ok(recipients)
}

/// Writes one notification to each recipient but the person who acted.
pub fn send(
    conn: &mut DbConnection,
    me: &Caller,
    recipients: impl IntoIterator<Item = UserId>,
    kind: &str,
    summary: &str,
    link: Option<&str>,
) -> Result<(), AppError> {
    let at = now();
    let mut seen = BTreeSet::new();
    for user_id in recipients {
        if Some(user_id) == me.actor.user_id || !seen.insert(user_id) {
            continue;
        }
        diesel::insert_into(notifications::table)
            .values((
                notifications::company_id.eq(me.company_id),
                notifications::user_id.eq(user_id),
                notifications::kind.eq(kind),
                notifications::summary.eq(summary),
                notifications::link.eq(link),
                notifications::created_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A change to a user, told to the supervisors and the user's team mates.
pub fn about_user(
    conn: &mut DbConnection,
    me: &Caller,
    user: UserId,
    kind: &str,
    summary: &str,
) -> Result<(), AppError> {
    let recipients = team_and_supervisors(conn, me.company_id, user)?;
    let link = format!("/users/{user}");
    send(conn, me, recipients, kind, summary, Some(&link))
}

/// The viewer's newest notifications.
pub fn list(conn: &mut DbConnection, me: &Caller) -> Result<Vec<Notification>, AppError> {
    Ok(list_query(me.user_id()).load(conn)?)
}

/// How the database reads a person's list, for the index test: newest first from the
/// (user, id) index, however many they have (they are kept).
pub fn explain_list(conn: &mut DbConnection, user_id: UserId) -> Result<String, AppError> {
    Ok(crate::db::explain::explain(conn, list_query(user_id))?)
}

type ListQuery = notifications::BoxedQuery<
    'static,
    crate::db::MultiBackend,
    diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<Notification, crate::db::MultiBackend>>,
>;

fn list_query(user_id: UserId) -> ListQuery {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .order(notifications::id.desc())
        .select(Notification::as_select())
        .limit(SHOWN)
        .into_boxed()
}

/// How many the viewer has not read (the navigation's counter; one indexed count).
pub fn unread(conn: &mut DbConnection, user_id: UserId) -> Result<i64, AppError> {
    Ok(unread_of(user_id).count().get_result(conn)?)
}

/// The person's unread notifications: one definition for [`unread`] and for the navigation's
/// badges, which count them in the same statement as the open conversations
/// (`conversations::open_assigned_and_unread`).
pub fn unread_of(user_id: UserId) -> UnreadOf {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
}

pub type UnreadOf = diesel::dsl::Filter<
    diesel::dsl::Filter<notifications::table, diesel::dsl::Eq<notifications::user_id, UserId>>,
    diesel::dsl::IsNull<notifications::read_at>,
>;

/// Marks some of the viewer's notifications read (all when `ids` is empty); another
/// person's are left alone. Returns how many changed.
pub fn mark_read(
    conn: &mut DbConnection,
    me: &Caller,
    ids: &[NotificationId],
) -> Result<usize, AppError> {
    let mine = notifications::table
        .filter(notifications::user_id.eq(me.user_id()))
        .filter(notifications::read_at.is_null());
    let at = Some(now());
    Ok(if ids.is_empty() {
        diesel::update(mine)
            .set(notifications::read_at.eq(at))
            .execute(conn)?
    } else {
        diesel::update(mine.filter(notifications::id.eq_any(ids)))
            .set(notifications::read_at.eq(at))
            .execute(conn)?
    })
}

/// How long a notification waits for its e-mail: one older than this is not sent any more
/// (turning e-mail on does not send the backlog of the days before).
pub const MAIL_WITHIN_HOURS: i64 = 24;
/// Attempts at sending one e-mail before it is given up.
pub const MAIL_ATTEMPTS: i32 = 5;

/// A notification claimed for sending by e-mail.
#[derive(Clone, Debug, Queryable)]
pub struct Outgoing {
    pub id: NotificationId,
    pub email: String,
    pub display_name: String,
    pub company_name: String,
    pub summary: String,
    pub link: Option<String>,
    pub attempts: i32,
}

/// Claims up to `limit` recent notifications not e-mailed yet whose recipient is active and has
/// an address: each is claimed by one caller only (the claim is a conditional update), so
/// several instances never send one twice. The caller reports each as sent or failed.
pub fn claim_unmailed(
    conn: &mut DbConnection,
    at: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Outgoing>, AppError> {
    use crate::db::schema::companies;
    let due: Vec<Outgoing> = notifications::table
        .inner_join(users::table.on(users::id.eq(notifications::user_id)))
        .inner_join(companies::table.on(companies::id.eq(notifications::company_id)))
        .filter(notifications::emailed_at.is_null())
        .filter(notifications::created_at.gt(at - chrono::Duration::hours(MAIL_WITHIN_HOURS)))
        .filter(notifications::email_attempts.lt(MAIL_ATTEMPTS))
        .filter(
            notifications::email_not_before
                .is_null()
                .or(notifications::email_not_before.le(at)),
        )
        .filter(users::status.eq(UserStatus::Active))
        .filter(users::email.is_not_null())
        .order(notifications::id)
        .limit(limit)
        .select((
            notifications::id,
            users::email.assume_not_null(),
            users::display_name,
            companies::name,
            notifications::summary,
            notifications::link,
            notifications::email_attempts,
        ))
        .load(conn)?;
    let ids: Vec<NotificationId> = due.iter().map(|outgoing| outgoing.id).collect();
    let claimed: BTreeSet<NotificationId> = diesel::update(
        notifications::table
            .filter(notifications::id.eq_any(&ids))
            .filter(notifications::emailed_at.is_null()),
    )
    .set(notifications::emailed_at.eq(Some(at)))
    .returning(notifications::id)
    .get_results(conn)?
    .into_iter()
    .collect();
    Ok(due
        .into_iter()
        .filter(|outgoing| claimed.contains(&outgoing.id) && !outgoing.email.trim().is_empty())
        .collect())
}

/// A claimed e-mail that could not be sent: tried again later (1, 4, 9, 16 minutes), up to
/// [`MAIL_ATTEMPTS`] times.
pub fn mail_failed(
    conn: &mut DbConnection,
    outgoing: &Outgoing,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let attempts = outgoing.attempts + 1;
    let wait = chrono::Duration::minutes(i64::from(attempts * attempts));
    diesel::update(notifications::table.find(outgoing.id))
        .set((
            notifications::emailed_at.eq(None::<NaiveDateTime>),
            notifications::email_attempts.eq(attempts),
            notifications::email_not_before.eq(Some(at + wait)),
        ))
        .execute(conn)?;
    Ok(())
}
