//! Teams (departments, brands): a company's people and channels grouped so that nothing
//! crosses a team line unless a role says so. A channel belongs to at most one team; a user to
//! any number; a lead is always a member of the team they lead.
//!
//! Teams decide two things elsewhere: the scope `conversations.view_team` (the channels of my
//! teams, `domain::visibility`) and a role's "only within my teams" flag, which limits
//! `users.manage` and `channels.assign` to the users all of whose teams the holder leads and to
//! those teams' channels ([`lead_reaches`], [`led_channel_ids`]).

use std::collections::BTreeSet;

use diesel::prelude::*;

use crate::core::ids::{ChannelId, CompanyId, TeamId, UserId};
use crate::core::status::UserStatus;
use crate::db::schema::{channels, team_members, teams, users};
use crate::db::{DbConnection, one_of_company};
use crate::domain::{Caller, audit, now, validate};
use crate::error::{AppError, FieldErrors};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = teams)]
pub struct Team {
    pub id: TeamId,
    pub company_id: CompanyId,
    pub name: String,
}

/// A team with what the list of teams shows of it.
pub struct TeamSummary {
    pub team: Team,
    pub members: usize,
    pub leads: Vec<String>,
    pub channels: Vec<String>,
}

/// A member of a team, for its page.
#[derive(Clone, Debug, Queryable)]
pub struct TeamMember {
    pub user_id: UserId,
    pub display_name: String,
    pub username: String,
    pub is_lead: bool,
}

/// One team with its members and channels.
pub struct Detail {
    pub team: Team,
    pub members: Vec<TeamMember>,
    pub channel_ids: Vec<ChannelId>,
}

/// What the team form sets: its name, members, leads (members too) and channels. `None`
/// stands for a submitted value that names no row; it is refused beside its field.
#[derive(Clone, Debug, Default)]
pub struct Change {
    pub name: String,
    pub member_ids: Vec<Option<UserId>>,
    pub lead_ids: Vec<Option<UserId>>,
    pub channel_ids: Vec<Option<ChannelId>>,
}

fn names(conn: &mut DbConnection, company_id: CompanyId) -> Result<Vec<Team>, AppError> {
    Ok(teams::table
        .filter(teams::company_id.eq(company_id))
        .order(teams::name)
        .select(Team::as_select())
        .load(conn)?)
}

/// The company's teams by name, each with its member count, leads and channels (three queries).
pub fn list(conn: &mut DbConnection, company_id: CompanyId) -> Result<Vec<TeamSummary>, AppError> {
    let all = names(conn, company_id)?;
    let ids: Vec<TeamId> = all.iter().map(|t| t.id).collect();
    let members: Vec<(TeamId, String, bool)> = team_members::table
        .inner_join(users::table)
        .filter(team_members::team_id.eq_any(&ids))
        .filter(users::status.ne(UserStatus::Deleted))
        .order(users::display_name)
        .select((
            team_members::team_id,
            users::display_name,
            team_members::is_lead,
        ))
        .load(conn)?;
    let team_channels: Vec<(Option<TeamId>, String)> = channels::table
        .filter(channels::team_id.eq_any(&ids))
        .order(channels::name)
        .select((channels::team_id, channels::name))
        .load(conn)?;
    Ok(all
        .into_iter()
        .map(|team| TeamSummary {
            members: members.iter().filter(|m| m.0 == team.id).count(),
            leads: members
                .iter()
                .filter(|m| m.0 == team.id && m.2)
                .map(|m| m.1.clone())
                .collect(),
            channels: team_channels
                .iter()
                .filter(|c| c.0 == Some(team.id))
                .map(|c| c.1.clone())
                .collect(),
            team,
        })
        .collect())
}

/// A team of the company, or 404 (also for another company's team).
pub fn get(
    conn: &mut DbConnection,
    company_id: CompanyId,
    team_id: TeamId,
) -> Result<Team, AppError> {
    Ok(one_of_company!(teams, team_id, company_id)
        .select(Team::as_select())
        .first(conn)?)
}

pub fn detail(
    conn: &mut DbConnection,
    company_id: CompanyId,
    team_id: TeamId,
) -> Result<Detail, AppError> {
    let team = get(conn, company_id, team_id)?;
    let members = members_of(conn, team.id)?;
    let channel_ids = channels::table
        .filter(channels::team_id.eq(team.id))
        .select(channels::id)
        .load(conn)?;
    Ok(Detail {
        team,
        members,
        channel_ids,
    })
}

fn members_of(conn: &mut DbConnection, team_id: TeamId) -> Result<Vec<TeamMember>, AppError> {
    Ok(team_members::table
        .inner_join(users::table)
        .filter(team_members::team_id.eq(team_id))
        .filter(users::status.ne(UserStatus::Deleted))
        .order(users::display_name)
        .select((
            users::id,
            users::display_name,
            users::username,
            team_members::is_lead,
        ))
        .load(conn)?)
}

/// Creates an empty team; its name is unique in the company, whatever its case.
pub fn create(conn: &mut DbConnection, me: &Caller, name: &str) -> Result<TeamId, AppError> {
    let existing = names(conn, me.company_id)?
        .into_iter()
        .map(|t| (t.id, t.name));
    let name = validate::unique_name(name, "team", 60, existing, None)
        .map_err(|message| AppError::field("name", message))?;
    let at = now();
    let id: TeamId = diesel::insert_into(teams::table)
        .values((
            teams::company_id.eq(me.company_id),
            teams::name.eq(&name),
            teams::created_at.eq(at),
            teams::updated_at.eq(at),
        ))
        .returning(teams::id)
        .get_result(conn)?;
    audit::Entry::new(me.company_id, &me.actor, "team.create")
        .on("team", id, &name)
        .saying(format!("team {name} created"))
        .write(conn)?;
    Ok(id)
}

/// Renames a team and sets its members, leads and channels. A channel chosen here leaves the
/// team it was in (a channel has one team at most). Unknown or foreign ids are a 422; nothing
/// is saved then. One audit record says what changed, before → after.
pub fn update(
    conn: &mut DbConnection,
    me: &Caller,
    team_id: TeamId,
    change: &Change,
) -> Result<(), AppError> {
    let company_id = me.company_id;
    let before = detail(conn, company_id, team_id)?;
    let mut errors = FieldErrors::default();
    let existing = names(conn, company_id)?.into_iter().map(|t| (t.id, t.name));
    let name = errors.check(
        "name",
        validate::unique_name(&change.name, "team", 60, existing, Some(team_id)),
    );
    let leads: BTreeSet<UserId> = change.lead_ids.iter().flatten().copied().collect();
    // a lead is a member of the team they lead
    let wanted: BTreeSet<UserId> = change
        .member_ids
        .iter()
        .flatten()
        .chain(&leads)
        .copied()
        .collect();
    let people: Vec<(UserId, String)> = users::table
        .filter(users::company_id.eq(company_id))
        .filter(users::status.ne(UserStatus::Deleted))
        .filter(users::id.eq_any(wanted.iter().copied().collect::<Vec<_>>()))
        .select((users::id, users::username))
        .load(conn)?;
    let unnamed = change.member_ids.contains(&None) || change.lead_ids.contains(&None);
    if people.len() != wanted.len() || unnamed {
        errors.add("member_ids", "Choose people of this company only.");
    }
    let wanted_channels: BTreeSet<ChannelId> =
        change.channel_ids.iter().flatten().copied().collect();
    let known_channels: Vec<(ChannelId, String, Option<TeamId>)> = channels::table
        .filter(channels::company_id.eq(company_id))
        .filter(channels::id.eq_any(wanted_channels.iter().copied().collect::<Vec<_>>()))
        .select((channels::id, channels::name, channels::team_id))
        .load(conn)?;
    if known_channels.len() != wanted_channels.len() || change.channel_ids.contains(&None) {
        errors.add("channel_ids", "Choose channels of this company only.");
    }
    errors.into_result()?;

    let at = now();
    diesel::update(teams::table.filter(teams::id.eq(team_id)))
        .set((teams::name.eq(&name), teams::updated_at.eq(at)))
        .execute(conn)?;
    diesel::delete(team_members::table.filter(team_members::team_id.eq(team_id))).execute(conn)?;
    // one row at a time: diesel's multi-backend connection has no batch insert
    for user_id in &wanted {
        diesel::insert_into(team_members::table)
            .values((
                team_members::team_id.eq(team_id),
                team_members::user_id.eq(*user_id),
                team_members::is_lead.eq(leads.contains(user_id)),
                team_members::created_at.eq(at),
            ))
            .execute(conn)?;
    }
    diesel::update(
        channels::table
            .filter(channels::team_id.eq(team_id))
            .filter(channels::id.ne_all(wanted_channels.iter().copied().collect::<Vec<_>>())),
    )
    .set(channels::team_id.eq(None::<TeamId>))
    .execute(conn)?;
    diesel::update(
        channels::table
            .filter(channels::company_id.eq(company_id))
            .filter(channels::id.eq_any(wanted_channels.iter().copied().collect::<Vec<_>>())),
    )
    .set(channels::team_id.eq(Some(team_id)))
    .execute(conn)?;

    let username = |id: &UserId| {
        people
            .iter()
            .find(|(p, _)| p == id)
            .map(|(_, u)| u.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let old_members: BTreeSet<String> = before.members.iter().map(|m| m.username.clone()).collect();
    let new_members: BTreeSet<String> = wanted.iter().map(username).collect();
    let old_leads: BTreeSet<String> = before
        .members
        .iter()
        .filter(|m| m.is_lead)
        .map(|m| m.username.clone())
        .collect();
    let new_leads: BTreeSet<String> = leads.iter().map(username).collect();
    let channel_name = |id: &ChannelId| {
        known_channels
            .iter()
            .find(|c| c.0 == *id)
            .map(|c| c.1.clone())
            .unwrap_or_else(|| format!("channel {id}"))
    };
    let old_channels: BTreeSet<String> = channels::table
        .filter(channels::id.eq_any(&before.channel_ids))
        .select(channels::name)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let new_channels: BTreeSet<String> = wanted_channels.iter().map(channel_name).collect();
    let moved: Vec<String> = known_channels
        .iter()
        .filter(|c| c.2.is_some_and(|other| other != team_id))
        .map(|c| c.1.clone())
        .collect();
    let mut said = Vec::new();
    if name != before.team.name {
        said.push(format!("renamed from {}", before.team.name));
    }
    said.extend(difference("members", &old_members, &new_members));
    said.extend(difference("leads", &old_leads, &new_leads));
    said.extend(difference("channels", &old_channels, &new_channels));
    if !moved.is_empty() {
        said.push(format!(
            "moved here from another team: {}",
            moved.join(", ")
        ));
    }
    if said.is_empty() {
        return Ok(());
    }
    audit::Entry::new(company_id, &me.actor, "team.update")
        .on("team", team_id, &name)
        .saying(format!("team {name}: {}", said.join("; ")))
        .write(conn)
}

/// "members: alice, bob → alice, carl" when the set changed.
fn difference(what: &str, before: &BTreeSet<String>, after: &BTreeSet<String>) -> Option<String> {
    let list = |set: &BTreeSet<String>| {
        if set.is_empty() {
            "none".to_string()
        } else {
            set.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    };
    (before != after).then(|| format!("{what}: {} → {}", list(before), list(after)))
}

/// Deletes a team: its channels belong to no team afterwards and its members keep their
/// accounts. Recorded.
pub fn delete(conn: &mut DbConnection, me: &Caller, team_id: TeamId) -> Result<(), AppError> {
    let team = get(conn, me.company_id, team_id)?;
    diesel::update(channels::table.filter(channels::team_id.eq(team.id)))
        .set(channels::team_id.eq(None::<TeamId>))
        .execute(conn)?;
    diesel::delete(team_members::table.filter(team_members::team_id.eq(team.id))).execute(conn)?;
    diesel::delete(teams::table.filter(teams::id.eq(team.id))).execute(conn)?;
    audit::Entry::new(me.company_id, &me.actor, "team.delete")
        .on("team", team.id, &team.name)
        .saying(format!("team {} deleted", team.name))
        .write(conn)
}

/// A deleted user leaves every team.
pub fn remove_user(conn: &mut DbConnection, user_id: UserId) -> Result<(), AppError> {
    diesel::delete(team_members::table.filter(team_members::user_id.eq(user_id))).execute(conn)?;
    Ok(())
}

/// The channels of the teams the user is a member of (the scope `conversations.view_team`).
pub fn member_channel_ids(
    conn: &mut DbConnection,
    user_id: UserId,
) -> Result<Vec<ChannelId>, AppError> {
    Ok(channels::table
        .filter(
            channels::team_id.eq_any(
                team_members::table
                    .filter(team_members::user_id.eq(user_id))
                    .select(team_members::team_id.nullable()),
            ),
        )
        .select(channels::id)
        .load(conn)?)
}

/// The teams the user leads.
pub fn led_team_ids(conn: &mut DbConnection, user_id: UserId) -> Result<Vec<TeamId>, AppError> {
    Ok(team_members::table
        .filter(team_members::user_id.eq(user_id))
        .filter(team_members::is_lead.eq(true))
        .select(team_members::team_id)
        .load(conn)?)
}

/// The channels of the teams the user leads: all a team-limited `channels.assign` reaches.
pub fn led_channel_ids(
    conn: &mut DbConnection,
    user_id: UserId,
) -> Result<Vec<ChannelId>, AppError> {
    let led = led_team_ids(conn, user_id)?;
    Ok(channels::table
        .filter(channels::team_id.eq_any(led.into_iter().map(Some).collect::<Vec<_>>()))
        .select(channels::id)
        .load(conn)?)
}

/// The users a team-limited holder reaches: those in at least one team, all of whose teams
/// `lead` leads (two queries, whatever the number of users).
pub fn users_reached_by(conn: &mut DbConnection, lead: UserId) -> Result<Vec<UserId>, AppError> {
    let led = led_team_ids(conn, lead)?;
    let in_led: BTreeSet<UserId> = team_members::table
        .filter(team_members::team_id.eq_any(&led))
        .select(team_members::user_id)
        .load::<UserId>(conn)?
        .into_iter()
        .collect();
    let elsewhere: BTreeSet<UserId> = team_members::table
        .filter(team_members::user_id.eq_any(in_led.iter().copied().collect::<Vec<_>>()))
        .filter(team_members::team_id.ne_all(&led))
        .select(team_members::user_id)
        .load::<UserId>(conn)?
        .into_iter()
        .collect();
    Ok(in_led.difference(&elsewhere).copied().collect())
}

/// Whether `lead` leads every team of `user` (and `user` is in one at least): the users a
/// role limited to its holder's teams may see and act on.
pub fn lead_reaches(conn: &mut DbConnection, lead: UserId, user: UserId) -> Result<bool, AppError> {
    let theirs: Vec<TeamId> = team_members::table
        .filter(team_members::user_id.eq(user))
        .select(team_members::team_id)
        .load(conn)?;
    if theirs.is_empty() {
        return Ok(false);
    }
    let led = led_team_ids(conn, lead)?;
    Ok(theirs.iter().all(|team| led.contains(team)))
}

/// Makes a new user a member of every team `lead` leads: a team lead's new colleague joins
/// their teams, or the lead could not reach them afterwards.
pub fn join_led_teams(
    conn: &mut DbConnection,
    lead: UserId,
    user_id: UserId,
) -> Result<Vec<TeamId>, AppError> {
    let led = led_team_ids(conn, lead)?;
    let at = now();
    for team_id in &led {
        diesel::insert_into(team_members::table)
            .values((
                team_members::team_id.eq(*team_id),
                team_members::user_id.eq(user_id),
                team_members::is_lead.eq(false),
                team_members::created_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(led)
}

/// The teams of several users, by name, for lists (one query).
pub fn names_of_users(
    conn: &mut DbConnection,
    user_ids: &[UserId],
) -> Result<Vec<(UserId, String)>, AppError> {
    Ok(team_members::table
        .inner_join(teams::table)
        .filter(team_members::user_id.eq_any(user_ids))
        .order(teams::name)
        .select((team_members::user_id, teams::name))
        .load(conn)?)
}

/// What the team form offers: the company's people (not deleted) and channels, each channel
/// with the team it is in now.
pub struct Options {
    pub people: Vec<(UserId, String, String)>,
    pub channels: Vec<(ChannelId, String, Option<TeamId>)>,
    pub teams: Vec<Team>,
}

pub fn options(conn: &mut DbConnection, company_id: CompanyId) -> Result<Options, AppError> {
    Ok(Options {
        people: users::table
            .filter(users::company_id.eq(company_id))
            .filter(users::status.ne(UserStatus::Deleted))
            .order(users::display_name)
            .select((users::id, users::display_name, users::username))
            .load(conn)?,
        channels: channels::table
            .filter(channels::company_id.eq(company_id))
            .order(channels::name)
            .select((channels::id, channels::name, channels::team_id))
            .load(conn)?,
        teams: names(conn, company_id)?,
    })
}
