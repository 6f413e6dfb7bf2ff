//! Access reviews (`reviews.run`): a snapshot of every active user's access — role,
//! permissions, channels, teams, last sign-in, dormancy and what changed since the previous
//! review — decided user by user: keep (a note needed for a dormant account), change (role
//! and channels, applied at once through the same rules as the user pages) or revoke
//! (deactivate, their open conversations back to the queue). A reviewer never decides their
//! own access. Closed once every line is decided; a closed review never changes and exports
//! as evidence. With regular reviews on, one is due every `review_every_days` (default 90)
//! after the last one closed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::core::ids::{AccessReviewId, ChannelId, CompanyId, RoleId, UserId};
use crate::core::permissions::Permission;
use crate::core::status::{ReviewDecision, ReviewStatus, UserStatus};
use crate::db::schema::{
    access_review_lines, access_reviews, channel_members, channels, companies, role_permissions,
    roles, team_members, teams, users,
};
use crate::db::{DbConnection, LockSpace};
use crate::domain::offboarding::{self, Handover};
use crate::domain::{Caller, assignments, audit, notifications, now};
use crate::error::{AppError, FieldErrors};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = access_reviews)]
pub struct Review {
    pub id: AccessReviewId,
    pub company_id: CompanyId,
    pub started_by_id: UserId,
    pub due_on: NaiveDate,
    pub status: ReviewStatus,
    pub created_at: NaiveDateTime,
    pub closed_by_id: Option<UserId>,
    pub closed_at: Option<NaiveDateTime>,
}

impl Review {
    pub fn is_open(&self) -> bool {
        self.status == ReviewStatus::Open
    }
}

/// One user as the review saw them, and the decision taken.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = access_review_lines)]
pub struct Line {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub role_name: String,
    pub permissions: String,
    pub channels: String,
    pub teams: String,
    pub last_sign_in_at: Option<NaiveDateTime>,
    pub dormant: bool,
    pub changes: String,
    pub decision: Option<ReviewDecision>,
    pub note: Option<String>,
    pub decided_by_id: Option<UserId>,
    pub decided_at: Option<NaiveDateTime>,
}

/// A review with its progress, for the list.
pub struct Summary {
    pub review: Review,
    pub lines: i64,
    pub decided: i64,
}

/// An active user as a review starts.
#[derive(Queryable)]
struct Person {
    id: UserId,
    username: String,
    display_name: String,
    role_id: RoleId,
    role_name: String,
    last_login_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

/// The access one user holds now, in words (the snapshot of a line).
struct Access {
    role_name: String,
    permissions: String,
    channels: String,
    teams: String,
}

/// Starts a review due on `due_on` (YYYY-MM-DD, from today to a year ahead): one line per
/// active user. 409 while another review is open.
pub fn start(
    conn: &mut DbConnection,
    me: &Caller,
    due_on: &str,
) -> Result<AccessReviewId, AppError> {
    let company_id = me.company_id;
    let at = now();
    let today = at.date();
    let due_on = NaiveDate::parse_from_str(due_on.trim(), "%Y-%m-%d")
        .ok()
        .filter(|day| *day >= today && *day <= today + Duration::days(366))
        .ok_or_else(|| {
            AppError::field(
                "due_on",
                "Give the due date as YYYY-MM-DD, from today to a year ahead.",
            )
        })?;
    // one open review at a time, also when two are started at once
    crate::db::serialize(conn, LockSpace::Reviews, &company_id.to_string())?;
    if open_review(conn, company_id)?.is_some() {
        return Err(AppError::Conflict(
            "A review is already open: close it before starting another.".into(),
        ));
    }
    let dormant_days: i32 = companies::table
        .find(company_id)
        .select(companies::dormant_after_days)
        .first(conn)?;
    let people: Vec<Person> = users::table
        .inner_join(roles::table.on(roles::id.eq(users::role_id)))
        .filter(users::company_id.eq(company_id))
        .filter(users::status.eq(UserStatus::Active))
        .filter(users::deleted_at.is_null())
        .order(users::username)
        .select((
            users::id,
            users::username,
            users::display_name,
            users::role_id,
            roles::name,
            users::last_login_at,
            users::created_at,
        ))
        .load(conn)?;
    let access = current_access(conn, company_id, &people)?;
    let previous = previous_access(conn, company_id)?;
    let id: AccessReviewId = diesel::insert_into(access_reviews::table)
        .values((
            access_reviews::company_id.eq(company_id),
            access_reviews::started_by_id.eq(me.user_id()),
            access_reviews::due_on.eq(due_on),
            access_reviews::status.eq(ReviewStatus::Open),
            access_reviews::created_at.eq(at),
        ))
        .returning(access_reviews::id)
        .get_result(conn)?;
    let dormant_since = at - Duration::days(i64::from(dormant_days));
    for person in &people {
        let Some(now_holds) = access.get(&person.id) else {
            continue;
        };
        let changes = match previous.get(&person.id) {
            None if previous.is_empty() => "first review".to_string(),
            None => "new since the last review".to_string(),
            Some(before) => describe_changes(before, now_holds),
        };
        diesel::insert_into(access_review_lines::table)
            .values((
                access_review_lines::review_id.eq(id),
                access_review_lines::user_id.eq(person.id),
                access_review_lines::company_id.eq(company_id),
                access_review_lines::username.eq(&person.username),
                access_review_lines::display_name.eq(&person.display_name),
                access_review_lines::role_name.eq(&now_holds.role_name),
                access_review_lines::permissions.eq(&now_holds.permissions),
                access_review_lines::channels.eq(&now_holds.channels),
                access_review_lines::teams.eq(&now_holds.teams),
                access_review_lines::last_sign_in_at.eq(person.last_login_at),
                // never signed in counts from when the account was made
                access_review_lines::dormant
                    .eq(person.last_login_at.unwrap_or(person.created_at) < dormant_since),
                access_review_lines::changes.eq(changes),
            ))
            .execute(conn)?;
    }
    audit::Entry::new(company_id, &me.actor, "access_review.start")
        .on("access_review", id, &format!("access review {id}"))
        .saying(format!(
            "access review {id} started: {} users, due {due_on}",
            people.len()
        ))
        .write(conn)?;
    Ok(id)
}

/// Role, permissions, channels and teams of each of `people`, in words (three queries).
fn current_access(
    conn: &mut DbConnection,
    company_id: CompanyId,
    people: &[Person],
) -> Result<BTreeMap<UserId, Access>, AppError> {
    let role_ids: BTreeSet<RoleId> = people.iter().map(|p| p.role_id).collect();
    let granted = grouped(
        role_permissions::table
            .filter(role_permissions::role_id.eq_any(role_ids.iter().copied().collect::<Vec<_>>()))
            .order((role_permissions::role_id, role_permissions::permission))
            .select((role_permissions::role_id, role_permissions::permission))
            .load::<(RoleId, String)>(conn)?,
    );
    let channels_of = grouped(
        channel_members::table
            .inner_join(channels::table.on(channels::id.eq(channel_members::channel_id)))
            .filter(channels::company_id.eq(company_id))
            .order((channel_members::user_id, channels::name))
            .select((channel_members::user_id, channels::name))
            .load::<(UserId, String)>(conn)?,
    );
    let teams_of = grouped(
        team_members::table
            .inner_join(teams::table.on(teams::id.eq(team_members::team_id)))
            .filter(teams::company_id.eq(company_id))
            .order((team_members::user_id, teams::name))
            .select((team_members::user_id, teams::name))
            .load::<(UserId, String)>(conn)?,
    );
    Ok(people
        .iter()
        .map(|person| {
            let joined =
                |names: Option<&Vec<String>>| names.map(|n| n.join(", ")).unwrap_or_default();
            (
                person.id,
                Access {
                    role_name: person.role_name.clone(),
                    permissions: joined(granted.get(&person.role_id)),
                    channels: joined(channels_of.get(&person.id)),
                    teams: joined(teams_of.get(&person.id)),
                },
            )
        })
        .collect())
}

/// Names by key, in the order read.
fn grouped<K: Ord>(rows: Vec<(K, String)>) -> BTreeMap<K, Vec<String>> {
    let mut by_key: BTreeMap<K, Vec<String>> = BTreeMap::new();
    for (key, name) in rows {
        by_key.entry(key).or_default().push(name);
    }
    by_key
}

/// What each user held at the last closed review (empty when there was none).
fn previous_access(
    conn: &mut DbConnection,
    company_id: CompanyId,
) -> Result<BTreeMap<UserId, Access>, AppError> {
    let last: Option<AccessReviewId> = access_reviews::table
        .filter(access_reviews::company_id.eq(company_id))
        .filter(access_reviews::status.eq(ReviewStatus::Closed))
        .order((access_reviews::closed_at.desc(), access_reviews::id.desc()))
        .select(access_reviews::id)
        .first(conn)
        .optional()?;
    let Some(last) = last else {
        return Ok(BTreeMap::new());
    };
    Ok(access_review_lines::table
        .filter(access_review_lines::review_id.eq(last))
        .select((
            access_review_lines::user_id,
            access_review_lines::role_name,
            access_review_lines::permissions,
            access_review_lines::channels,
            access_review_lines::teams,
        ))
        .load::<(UserId, String, String, String, String)>(conn)?
        .into_iter()
        .map(|(user_id, role_name, permissions, channels, teams)| {
            (
                user_id,
                Access {
                    role_name,
                    permissions,
                    channels,
                    teams,
                },
            )
        })
        .collect())
}

/// `role Agent → Team Lead; permissions added: reports.view; channels removed: SMS`.
fn describe_changes(before: &Access, after: &Access) -> String {
    let set = |text: &str| -> BTreeSet<String> {
        text.split(", ")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut said = Vec::new();
    if before.role_name != after.role_name {
        said.push(format!("role {} → {}", before.role_name, after.role_name));
    }
    for (what, old, new) in [
        ("permissions", &before.permissions, &after.permissions),
        ("channels", &before.channels, &after.channels),
        ("teams", &before.teams, &after.teams),
    ] {
        let (old, new) = (set(old), set(new));
        let added: Vec<&String> = new.difference(&old).collect();
        let removed: Vec<&String> = old.difference(&new).collect();
        if !added.is_empty() {
            said.push(format!(
                "{what} added: {}",
                added
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !removed.is_empty() {
            said.push(format!(
                "{what} removed: {}",
                removed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if said.is_empty() {
        "unchanged".into()
    } else {
        said.join("; ")
    }
}

fn open_review(conn: &mut DbConnection, company_id: CompanyId) -> Result<Option<Review>, AppError> {
    Ok(access_reviews::table
        .filter(access_reviews::company_id.eq(company_id))
        .filter(access_reviews::status.eq(ReviewStatus::Open))
        .select(Review::as_select())
        .first(conn)
        .optional()?)
}

/// The company's reviews, newest first, with their progress (two queries).
pub fn list(conn: &mut DbConnection, company_id: CompanyId) -> Result<Vec<Summary>, AppError> {
    let reviews: Vec<Review> = access_reviews::table
        .filter(access_reviews::company_id.eq(company_id))
        .order(access_reviews::id.desc())
        .limit(100)
        .select(Review::as_select())
        .load(conn)?;
    let ids: Vec<AccessReviewId> = reviews.iter().map(|r| r.id).collect();
    let counts: BTreeMap<AccessReviewId, (i64, i64)> = access_review_lines::table
        .filter(access_review_lines::review_id.eq_any(&ids))
        .group_by(access_review_lines::review_id)
        .select((
            access_review_lines::review_id,
            diesel::dsl::count_star(),
            diesel::dsl::count(access_review_lines::decision),
        ))
        .load::<(AccessReviewId, i64, i64)>(conn)?
        .into_iter()
        .map(|(id, lines, decided)| (id, (lines, decided)))
        .collect();
    Ok(reviews
        .into_iter()
        .map(|review| {
            let (lines, decided) = counts.get(&review.id).copied().unwrap_or((0, 0));
            Summary {
                review,
                lines,
                decided,
            }
        })
        .collect())
}

/// A review of the company, or 404.
pub fn get(
    conn: &mut DbConnection,
    company_id: CompanyId,
    id: AccessReviewId,
) -> Result<Review, AppError> {
    Ok(access_reviews::table
        .filter(access_reviews::company_id.eq(company_id))
        .filter(access_reviews::id.eq(id))
        .select(Review::as_select())
        .first(conn)?)
}

/// A review's lines, by username.
pub fn lines(conn: &mut DbConnection, review: &Review) -> Result<Vec<Line>, AppError> {
    Ok(access_review_lines::table
        .filter(access_review_lines::review_id.eq(review.id))
        .order(access_review_lines::username)
        .select(Line::as_select())
        .load(conn)?)
}

/// A decision as the form sends it.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    pub decision: String,
    pub note: String,
    pub role_id: Option<RoleId>,
    pub channel_ids: Vec<ChannelId>,
}

/// Decides one user's line of an open review and applies it: keep (a note is needed for a
/// dormant account), change (a new role and/or exactly these channels, through the rules of
/// the user pages: who may act on whom, grantable roles, the last supervisor) or revoke
/// (deactivated, their open conversations back to the queue). 409 on a closed review, a line
/// already decided, or one's own line; 404 for a user not in the review.
pub fn decide(
    conn: &mut DbConnection,
    me: &Caller,
    review_id: AccessReviewId,
    user_id: UserId,
    form: &DecisionForm,
) -> Result<(), AppError> {
    let review = get(conn, me.company_id, review_id)?;
    let line: Line = access_review_lines::table
        .filter(access_review_lines::review_id.eq(review.id))
        .filter(access_review_lines::user_id.eq(user_id))
        .select(Line::as_select())
        .first(conn)?;
    if !review.is_open() {
        return Err(AppError::Conflict(
            "This review is closed: its decisions never change.".into(),
        ));
    }
    if line.decision.is_some() {
        return Err(AppError::Conflict(format!(
            "{} was decided already in this review.",
            line.display_name
        )));
    }
    if user_id == me.user_id() {
        return Err(AppError::Conflict(
            "Nobody reviews their own access: another reviewer decides it.".into(),
        ));
    }
    let mut errors = FieldErrors::default();
    let decision = ReviewDecision::parse(form.decision.trim());
    if decision.is_none() {
        errors.add("decision", "Choose keep, change or revoke.");
    }
    let note = form.note.trim();
    if note.chars().count() > 500 {
        errors.add("note", "A note is at most 500 characters.");
    }
    if decision == Some(ReviewDecision::Keep) && line.dormant && note.is_empty() {
        errors.add(
            "note",
            "This account has not been used for a long time: say why it keeps its access.",
        );
    }
    if decision == Some(ReviewDecision::Change)
        && form.role_id.is_none()
        && form.channel_ids.is_empty()
    {
        errors.add(
            "role_id",
            "Choose the new role or the channels the user keeps.",
        );
    }
    errors.into_result()?;
    let Some(decision) = decision else {
        return Err(AppError::internal("validated decision missing"));
    };
    // decided once, also when two reviewers decide at the same moment
    let decided = diesel::update(
        access_review_lines::table
            .filter(access_review_lines::review_id.eq(review.id))
            .filter(access_review_lines::user_id.eq(user_id))
            .filter(access_review_lines::decision.is_null()),
    )
    .set((
        access_review_lines::decision.eq(Some(decision)),
        access_review_lines::note.eq((!note.is_empty()).then_some(note)),
        access_review_lines::decided_by_id.eq(Some(me.user_id())),
        access_review_lines::decided_at.eq(Some(now())),
    ))
    .execute(conn)?;
    if decided == 0 {
        return Err(AppError::Conflict(
            "Someone decided this a moment ago.".into(),
        ));
    }
    let applied = match decision {
        ReviewDecision::Keep => {
            // the reviewer must still be someone who may act on the user
            let user = crate::domain::accounts::get(conn, me.company_id, user_id)?;
            crate::domain::accounts::ensure_may_act_on(conn, me, &user)?;
            "kept".to_string()
        }
        ReviewDecision::Change => {
            let mut done = Vec::new();
            if form.role_id.is_some() {
                crate::domain::users::change_role(conn, me, user_id, form.role_id)?;
                done.push("role changed");
            }
            if !form.channel_ids.is_empty() {
                set_channels(conn, me, user_id, &form.channel_ids)?;
                done.push("channels set");
            }
            format!("changed ({})", done.join(", "))
        }
        ReviewDecision::Revoke => {
            offboarding::deactivate(conn, me, user_id, Handover::Queue)?;
            "revoked (deactivated)".to_string()
        }
    };
    let note_said = if note.is_empty() {
        String::new()
    } else {
        format!("; note: {note}")
    };
    audit::Entry::new(me.company_id, &me.actor, "access_review.decide")
        .on("user", user_id, &line.username)
        .saying(format!(
            "access review {}: {} {applied}{note_said}",
            review.id, line.username
        ))
        .write(conn)
}

/// Makes `user_id` a member of exactly `wanted` among the channels the caller may assign
/// (the assignment matrix's rules, cell by cell).
fn set_channels(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
    wanted: &[ChannelId],
) -> Result<(), AppError> {
    let assignable: BTreeSet<ChannelId> = assignments::assignable_channels(conn, me)?
        .into_iter()
        .map(|channel| channel.id)
        .collect();
    let wanted: BTreeSet<ChannelId> = wanted.iter().copied().collect();
    if !wanted.is_subset(&assignable) {
        return Err(AppError::field(
            "channel_ids",
            "Choose channels you may assign only.",
        ));
    }
    let held: BTreeSet<ChannelId> = channel_members::table
        .filter(channel_members::user_id.eq(user_id))
        .select(channel_members::channel_id)
        .load::<ChannelId>(conn)?
        .into_iter()
        .collect();
    for channel in assignable {
        let (has, wants) = (held.contains(&channel), wanted.contains(&channel));
        if has != wants {
            assignments::set(conn, me, user_id, channel, wants)?;
        }
    }
    Ok(())
}

/// Closes an open review once every line is decided (409 naming how many wait); it never
/// changes after. Recorded.
pub fn close(conn: &mut DbConnection, me: &Caller, id: AccessReviewId) -> Result<(), AppError> {
    let review = get(conn, me.company_id, id)?;
    if !review.is_open() {
        return Err(AppError::Conflict("This review is closed already.".into()));
    }
    let waiting: i64 = access_review_lines::table
        .filter(access_review_lines::review_id.eq(review.id))
        .filter(access_review_lines::decision.is_null())
        .count()
        .get_result(conn)?;
    if waiting > 0 {
        return Err(AppError::Conflict(format!(
            "{waiting} user{} still wait{} for a decision.",
            if waiting == 1 { "" } else { "s" },
            if waiting == 1 { "s" } else { "" }
        )));
    }
    let closed = diesel::update(
        access_reviews::table
            .find(review.id)
            .filter(access_reviews::status.eq(ReviewStatus::Open)),
    )
    .set((
        access_reviews::status.eq(ReviewStatus::Closed),
        access_reviews::closed_by_id.eq(Some(me.user_id())),
        access_reviews::closed_at.eq(Some(now())),
    ))
    .execute(conn)?;
    if closed == 0 {
        return Err(AppError::Conflict(
            "This review was closed a moment ago.".into(),
        ));
    }
    // the next quarter's reminder may be sent when it falls due
    diesel::update(companies::table.find(me.company_id))
        .set(companies::review_due_told_on.eq(None::<NaiveDate>))
        .execute(conn)?;
    audit::Entry::new(me.company_id, &me.actor, "access_review.close")
        .on(
            "access_review",
            review.id,
            &format!("access review {}", review.id),
        )
        .saying(format!("access review {} closed", review.id))
        .write(conn)
}

/// When the next review is due, where the company reviews regularly: the open review's due
/// date, else its interval (default 90 days) after the last review closed (or after the
/// company began).
pub fn next_due(
    conn: &mut DbConnection,
    company_id: CompanyId,
) -> Result<Option<NaiveDate>, AppError> {
    let (quarterly, every, began): (bool, i32, NaiveDateTime) = companies::table
        .find(company_id)
        .select((
            companies::reviews_quarterly,
            companies::review_every_days,
            companies::created_at,
        ))
        .first(conn)?;
    if !quarterly {
        return Ok(None);
    }
    if let Some(open) = open_review(conn, company_id)? {
        return Ok(Some(open.due_on));
    }
    let last_closed: Option<Option<NaiveDateTime>> = access_reviews::table
        .filter(access_reviews::company_id.eq(company_id))
        .filter(access_reviews::status.eq(ReviewStatus::Closed))
        .order(access_reviews::closed_at.desc())
        .select(access_reviews::closed_at)
        .first(conn)
        .optional()?;
    let from = last_closed.flatten().unwrap_or(began);
    Ok(Some(from.date() + Duration::days(i64::from(every))))
}

/// The due date, when it has passed (the supervisors' banner).
pub fn overdue_since(
    conn: &mut DbConnection,
    company_id: CompanyId,
    today: NaiveDate,
) -> Result<Option<NaiveDate>, AppError> {
    Ok(next_due(conn, company_id)?.filter(|due| *due < today))
}

/// Tells the holders of `reviews.run` of every company whose review falls due today or has
/// (once per due date). The minutely sweep. Returns how many companies were told.
pub fn tell_due(conn: &mut DbConnection, at: NaiveDateTime) -> Result<usize, AppError> {
    let quarterly: Vec<(CompanyId, Option<NaiveDate>)> = companies::table
        .filter(companies::reviews_quarterly.eq(true))
        .select((companies::id, companies::review_due_told_on))
        .load(conn)?;
    let mut told = 0;
    for (company_id, told_on) in quarterly {
        let Some(due) = next_due(conn, company_id)? else {
            continue;
        };
        if due > at.date() || told_on == Some(due) {
            continue;
        }
        let reviewers = notifications::holders_of(conn, company_id, Permission::ReviewsRun)?;
        let system = Caller::background(company_id);
        notifications::send(
            conn,
            &system,
            reviewers,
            "access_review.due",
            &format!("an access review is due (since {due})"),
            Some("/access-reviews"),
        )?;
        diesel::update(companies::table.find(company_id))
            .set(companies::review_due_told_on.eq(Some(due)))
            .execute(conn)?;
        told += 1;
    }
    Ok(told)
}

/// Deactivates the dormant accounts of every company that asks for it (the hourly sweep), as
/// the system, their open conversations back to the queue — each in its own transaction, and
/// none whose deactivation is refused (the last supervisor, the last holder of a critical
/// permission): those stay, and the review shows them. Returns how many were deactivated.
/// Call it outside a transaction.
pub fn deactivate_dormant(conn: &mut DbConnection, at: NaiveDateTime) -> Result<usize, AppError> {
    let companies_asking: Vec<(CompanyId, i32)> = companies::table
        .filter(companies::deactivate_dormant.eq(true))
        .select((companies::id, companies::dormant_after_days))
        .load(conn)?;
    let mut deactivated = 0;
    for (company_id, days) in companies_asking {
        let before = at - Duration::days(i64::from(days));
        let dormant: Vec<(UserId, String)> = users::table
            .filter(users::company_id.eq(company_id))
            .filter(users::status.eq(UserStatus::Active))
            .filter(
                users::last_login_at.lt(before).or(users::last_login_at
                    .is_null()
                    .and(users::created_at.lt(before))),
            )
            .order(users::username)
            .select((users::id, users::username))
            .load(conn)?;
        let system = Caller::background(company_id);
        for (user_id, username) in dormant {
            let done = crate::db::write_transaction(conn, |conn| {
                offboarding::deactivate(conn, &system, user_id, Handover::Queue)?;
                audit::Entry::new(company_id, &system.actor, "user.dormant")
                    .on("user", user_id, &username)
                    .saying(format!(
                        "{username} deactivated automatically: no sign-in for {days} days"
                    ))
                    .write(conn)
            });
            match done {
                Ok(()) => deactivated += 1,
                // kept: the last supervisor or the last holder of a critical permission
                Err(AppError::Conflict(why)) => {
                    tracing::info!(user = %username, reason = %why, "dormant account kept");
                }
                Err(other) => return Err(other),
            }
        }
    }
    Ok(deactivated)
}
