//! User Management: `/users` and everything under it. Guarded by `users.view` (reading) and
//! `users.manage` (changes) in the route table; the domain enforces the rules (last
//! supervisor, no self-changes, no escalation) and writes the audit records.

use crate::core::text::count;
use crate::error::FieldsApart;
use actix_web::web::Path;
use askama::Template;
use serde::Deserialize;

use crate::access::{RouteRules, Rule};
use crate::auth::client::describe_user_agent;
use crate::core::ids::{CallTaskId, ChannelId, RoleId, UserId};
use crate::core::permissions::Permission;
use crate::domain::offboarding::{self, Checklist, Handover};
use crate::domain::roles::Role;
use crate::domain::users::{
    self, NewUser, Profile, ProfileFields, UserFilter, UserListRow, UserOrder,
};
use crate::domain::{assignments, login_events, roles};
use crate::error::{AppError, FieldErrors};
use crate::web::forms::{AssigneeForm, lenient};
use crate::web::layout::{Layout, NAV};
use crate::web::{Answer, Cx, Form, Query, form_page, format_recent, format_time, page, render};

pub struct UserItem {
    row: UserListRow,
    last_login: String,
}

pub struct Choice<Id> {
    id: Id,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "users/index.html")]
struct ListPage {
    layout: Layout,
    users: Vec<UserItem>,
    next_cursor: Option<UserId>,
    /// This is a later page: offer the first one again.
    paged: bool,
    /// How many users match the filters, on every page.
    total: i64,
    can_manage: bool,
    one_supervisor: bool,
    /// The due date of an access review that has passed, shown to those who run reviews.
    review_overdue_since: Option<chrono::NaiveDate>,
    /// Critical permissions held by fewer than two active users (shown to those who manage
    /// users).
    thin_coverage: Vec<(Permission, i64)>,
    roles: Vec<Choice<RoleId>>,
    channels: Vec<Choice<ChannelId>>,
    q: String,
    status: String,
    /// Every filter of this page and its order as a query string, so the next page keeps them.
    filters: String,
    /// Some filter narrows the list (the count says "match").
    filtered: bool,
    order: UserOrder,
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    role: Option<RoleId>,
    status: Option<String>,
    channel: Option<ChannelId>,
    /// `username` (the default), `name` or `last_sign_in`.
    sort: Option<String>,
    after: Option<UserId>,
}

fn choices<T, Id: Copy + PartialEq>(
    items: Vec<T>,
    selected: Option<Id>,
    parts: impl Fn(T) -> (Id, String),
) -> Vec<Choice<Id>> {
    items
        .into_iter()
        .map(|item| {
            let (id, name) = parts(item);
            Choice {
                selected: selected == Some(id),
                id,
                name,
            }
        })
        .collect()
}

pub async fn index(cx: Cx, Query(query): Query<ListQuery>) -> Answer {
    let status = query
        .status
        .clone()
        .filter(|s| ["active", "deactivated", "locked", "dormant"].contains(&s.as_str()));
    let order = match query.sort.as_deref().filter(|s| !s.is_empty()) {
        None => UserOrder::default(),
        Some(sort) => UserOrder::parse(sort)
            .ok_or_else(|| AppError::Invalid("Sort by username, name or last sign-in.".into()))?,
    };
    let filter = UserFilter {
        q: query.q.clone().filter(|q| q.len() <= 100),
        role_id: query.role,
        status: status.clone(),
        channel_id: query.channel,
        order,
        after: query.after,
    };
    let paged = filter.after.is_some();
    let now = cx.now();
    let today = cx.now().date();
    let runs_reviews = cx.can(Permission::ReviewsRun);
    let manages = cx.can(Permission::UsersManage);
    let (
        layout,
        ((rows, total), role_list, channel_list, supervisors, review_overdue_since, thin_coverage),
    ) = cx
        .read_page("Users", "/users", move |conn, me| {
            Ok((
                users::user_list_page(conn, me, &filter)?,
                roles::list(conn, me.company_id)?,
                // a team lead filters by their teams' channels only
                crate::domain::assignments::assignable_channels(conn, me)?,
                users::active_supervisor_count(conn, me.company_id)?,
                match runs_reviews {
                    true => crate::domain::reviews::overdue_since(conn, me.company_id, today)?,
                    false => None,
                },
                match manages {
                    true => crate::domain::coverage::thin(conn, me.company_id)?,
                    false => Vec::new(),
                },
            ))
        })
        .await?;
    let next_cursor = rows.next(|last| last.id);
    page(&ListPage {
        layout,
        users: rows
            .rows
            .into_iter()
            .map(|row| UserItem {
                last_login: row
                    .last_login_at
                    .as_ref()
                    .map(|at| format_recent(at, now))
                    .unwrap_or_else(|| "never".into()),
                row,
            })
            .collect(),
        next_cursor,
        paged,
        total,
        can_manage: cx.can(Permission::UsersManage),
        one_supervisor: supervisors <= 1,
        review_overdue_since,
        thin_coverage,
        filters: crate::web::forms::query_string([
            ("q", query.q.clone().unwrap_or_default()),
            (
                "role",
                query.role.map(|r| r.to_string()).unwrap_or_default(),
            ),
            ("status", status.clone().unwrap_or_default()),
            (
                "channel",
                query.channel.map(|c| c.to_string()).unwrap_or_default(),
            ),
            ("sort", query.sort.clone().unwrap_or_default()),
        ]),
        filtered: query.q.as_deref().is_some_and(|q| !q.is_empty())
            || query.role.is_some()
            || status.is_some()
            || query.channel.is_some(),
        order,
        roles: choices(role_list, query.role, |r| (r.id, r.name)),
        channels: choices(channel_list, query.channel, |c| (c.id, c.name)),
        q: query.q.unwrap_or_default(),
        status: status.unwrap_or_default(),
    })
}

// ---- add ---------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "users/new.html")]
struct NewPage {
    layout: Layout,
    roles: Vec<Choice<RoleId>>,
    channels: Vec<Choice<ChannelId>>,
    form: NewUserForm,
    /// The company's password policy in words, shown before anyone types.
    password_rules: String,
    errors: FieldErrors,
}

/// The add-user form as sent; it goes back into the page on a 422.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct NewUserForm {
    username: String,
    display_name: String,
    email: String,
    phone: String,
    #[serde(deserialize_with = "lenient::id")]
    role_id: Option<RoleId>,
    #[serde(deserialize_with = "lenient::ids")]
    channel_ids: Vec<Option<ChannelId>>,
    password: String,
}

async fn new_page(cx: &Cx, form: NewUserForm, errors: FieldErrors) -> Answer {
    let (layout, (role_list, channel_list, policy)) = cx
        .read_page("Add user", "/users", |conn, me| {
            Ok((
                roles::list(conn, me.company_id)?,
                crate::domain::assignments::assignable_channels(conn, me)?,
                crate::domain::companies::get(conn, me.company_id)?.password_policy(),
            ))
        })
        .await?;
    // an agent by default: the least privilege
    let default_role = role_list
        .iter()
        .find(|r| r.builtin.as_deref() == Some(roles::AGENT))
        .map(|r| r.id);
    let chosen_channels = &form.channel_ids;
    let page = NewPage {
        layout,
        password_rules: policy.summary(),
        roles: choices(role_list, form.role_id.or(default_role), |r: Role| {
            (r.id, r.name)
        }),
        channels: channel_list
            .into_iter()
            .map(|c| Choice {
                selected: chosen_channels.contains(&Some(c.id)),
                id: c.id,
                name: c.name,
            })
            .collect(),
        form: NewUserForm {
            // an accepted password comes back (typed once, the rest corrected); a refused one
            // does not (the template shows it only without an error of its own)
            password: match errors.get("password") {
                Some(_) => String::new(),
                None => form.password,
            },
            ..form
        },
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn new_form(cx: Cx) -> Answer {
    new_page(&cx, NewUserForm::default(), FieldErrors::default()).await
}

pub async fn create(cx: Cx, Form(form): Form<NewUserForm>) -> Answer {
    let submitted = form.clone();
    let created = cx
        .write(move |conn, me| {
            users::create_by(
                conn,
                me,
                &NewUser {
                    company_id: me.company_id,
                    username: &submitted.username,
                    display_name: &submitted.display_name,
                    email: Some(&submitted.email),
                    phone: Some(&submitted.phone),
                    role_id: submitted.role_id,
                    password: &submitted.password,
                    must_change_password: true,
                    channel_ids: &submitted.channel_ids,
                    granted_by: Some(me.permissions()),
                },
            )
        })
        .await;
    match created.fields_apart()? {
        Ok(new_user) => Ok(cx.done(
            format!(
                "{} was added. They must choose a new password when they first sign in.",
                new_user.display_name
            ),
            format!("/users/{}", new_user.id),
        )),
        Err(errors) => new_page(&cx, form, errors).await,
    }
}

// ---- the user page --------------------------------------------------------------------------

pub struct AccessLine {
    page: &'static str,
    can_open: bool,
    decided_by: String,
}

pub struct SessionLine {
    device: String,
    ip: String,
    last_seen: String,
}

#[derive(Template)]
#[template(path = "users/show.html")]
struct ShowPage {
    layout: Layout,
    profile: Profile,
    role_name: String,
    status_label: String,
    locked: bool,
    last_login: String,
    can_manage: bool,
    /// May set the user's capacity and where they receive new chats.
    can_route: bool,
    is_self: bool,
    one_supervisor: bool,
    roles: Vec<Choice<RoleId>>,
    access: Vec<AccessLine>,
    sessions: Vec<SessionLine>,
    sees_logins: bool,
    recent_logins: Vec<SessionLine>,
    form: ProfileForm,
    /// Who could take over the user's open conversations when they are deactivated.
    handover_to: Vec<offboarding::Candidate>,
    errors: FieldErrors,
}

/// Each page of the product, whether this user can open it, and the rule that decides.
fn effective_access(rules: &RouteRules, profile: &Profile) -> Vec<AccessLine> {
    NAV.iter()
        .filter_map(|(path, page)| {
            let rule = rules.rule(&actix_web::http::Method::GET, path)?;
            let (can_open, decided_by) = match rule {
                Rule::AnyOf(required) => {
                    let held: Vec<&str> = required
                        .iter()
                        .filter(|p| profile.permissions.contains(**p))
                        .map(|p| p.key())
                        .collect();
                    if held.is_empty() {
                        (false, format!("needs {}", rule.describe()))
                    } else {
                        (
                            true,
                            format!("{} (role {})", held.join(", "), profile.role.name),
                        )
                    }
                }
                other => (true, other.describe()),
            };
            Some(AccessLine {
                page,
                can_open,
                decided_by,
            })
        })
        .collect()
}

/// The profile form as sent; it goes back into the page on a 422.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProfileForm {
    display_name: String,
    email: String,
    phone: String,
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default, deserialize_with = "lenient::id")]
    role_id: Option<RoleId>,
}

async fn show_page(
    cx: &Cx,
    user_id: UserId,
    edits: Option<ProfileForm>,
    errors: FieldErrors,
) -> Answer {
    let sees_logins = cx.can(Permission::LoginsView);
    let manages = cx.can(Permission::UsersManage);
    let (mut layout, (profile, role_list, supervisors, recent, handover_to)) = cx
        .read_page("", "/users", move |conn, me| {
            let recent = if sees_logins {
                login_events::recent_for_user(conn, me.company_id, user_id, 10)?
            } else {
                Vec::new()
            };
            let profile = users::profile(conn, me, user_id)?;
            // only when deactivating would strand someone's customers
            let handover_to =
                if manages && profile.open_conversations > 0 && profile.user.is_active() {
                    offboarding::handover_candidates(conn, me.company_id, user_id)?
                } else {
                    Vec::new()
                };
            Ok((
                profile,
                roles::list(conn, me.company_id)?,
                users::active_supervisor_count(conn, me.company_id)?,
                recent,
                handover_to,
            ))
        })
        .await?;
    layout.title = profile.user.display_name.clone();
    let form = edits.unwrap_or_else(|| ProfileForm {
        display_name: profile.user.display_name.clone(),
        email: profile.user.email.clone().unwrap_or_default(),
        phone: profile.user.phone.clone().unwrap_or_default(),
    });
    let at = cx.now();
    let page = ShowPage {
        layout,
        role_name: profile.role.name.clone(),
        status_label: profile.user.status.to_string(),
        locked: profile.user.is_locked(at),
        last_login: profile
            .user
            .last_login_at
            .as_ref()
            .map(format_time)
            .unwrap_or_else(|| "never".into()),
        can_manage: cx.can(Permission::UsersManage),
        can_route: cx.can(Permission::ChannelsAssign),
        is_self: profile.user.id == cx.user.auth.user_id,
        one_supervisor: supervisors <= 1,
        roles: choices(role_list, Some(profile.role.id), |r| (r.id, r.name)),
        access: effective_access(&cx.rules, &profile),
        sessions: profile
            .sessions
            .iter()
            .map(|s| SessionLine {
                device: describe_user_agent(&s.user_agent),
                ip: s.ip.clone(),
                last_seen: format_recent(&s.last_seen_at, cx.now()),
            })
            .collect(),
        sees_logins,
        recent_logins: recent
            .into_iter()
            .map(|r| SessionLine {
                device: describe_user_agent(&r.user_agent),
                ip: r.ip,
                last_seen: format!(
                    "{} · {}",
                    format_time(&r.created_at),
                    if r.success {
                        "signed in".to_string()
                    } else {
                        format!("failed: {}", r.reason)
                    }
                ),
            })
            .collect(),
        profile,
        form,
        handover_to,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn show(cx: Cx, id: Path<UserId>) -> Answer {
    show_page(&cx, id.into_inner(), None, FieldErrors::default()).await
}

pub async fn update(cx: Cx, id: Path<UserId>, Form(form): Form<ProfileForm>) -> Answer {
    let id = id.into_inner();
    let fields = ProfileFields {
        display_name: form.display_name.clone(),
        email: form.email.clone(),
        phone: form.phone.clone(),
    };
    match cx
        .write(move |conn, me| users::update_profile(conn, me, id, &fields))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done("The profile was saved.", format!("/users/{id}"))),
        Err(errors) => show_page(&cx, id, Some(form), errors).await,
    }
}

pub async fn change_role(cx: Cx, id: Path<UserId>, Form(form): Form<RoleForm>) -> Answer {
    let id = id.into_inner();
    match cx
        .write(move |conn, me| users::change_role(conn, me, id, form.role_id))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done(
            "The role was changed. It applies to the user's open sessions at once.",
            format!("/users/{id}"),
        )),
        Err(errors) => show_page(&cx, id, None, errors).await,
    }
}

/// Deactivation, with what becomes of the user's open conversations (absent: they stay).
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct DeactivateForm {
    /// `queue`, `person` (with `assignee_id`) or `keep`.
    open_conversations: Option<String>,
    #[serde(deserialize_with = "lenient::id")]
    assignee_id: Option<UserId>,
}

/// The handover a form asks for; `keep` only where leaving them is offered (deactivation).
fn handover_asked(form: &DeactivateForm, keep_offered: bool) -> Result<Handover, FieldErrors> {
    match form.open_conversations.as_deref().unwrap_or("keep") {
        "keep" if keep_offered => Ok(Handover::Keep),
        "queue" => Ok(Handover::Queue),
        "route" => Ok(Handover::Route),
        "person" => Ok(Handover::Person(form.assignee_id)),
        _ => Err(FieldErrors::from_one(
            "open_conversations",
            "Choose what becomes of their open conversations.",
        )),
    }
}

/// "3 open conversations went back to the unassigned queue" and the like.
fn handed_over(handover: Handover, moved: usize) -> Option<String> {
    let conversations = |singular, plural| count(moved, singular, plural);
    match handover {
        _ if moved == 0 => None,
        Handover::Keep => None,
        Handover::Queue => Some(format!(
            "{} went back to the unassigned queue",
            conversations("open conversation", "open conversations")
        )),
        Handover::Route => Some(format!(
            "{} routed again",
            conversations("open conversation was", "open conversations were")
        )),
        Handover::Person(_) => Some(format!(
            "{} handed over",
            conversations("open conversation was", "open conversations were")
        )),
    }
}

pub async fn deactivate(cx: Cx, id: Path<UserId>, Form(form): Form<DeactivateForm>) -> Answer {
    let id = id.into_inner();
    let handover = match handover_asked(&form, true) {
        Ok(handover) => handover,
        Err(errors) => return show_page(&cx, id, None, errors).await,
    };
    match cx
        .write(move |conn, me| offboarding::deactivate(conn, me, id, handover))
        .await
        .fields_apart()?
    {
        Ok(moved) => {
            let message = match handed_over(handover, moved) {
                Some(what) => {
                    format!("The user was deactivated and signed out everywhere; {what}.")
                }
                None => "The user was deactivated and signed out everywhere.".to_string(),
            };
            Ok(cx.done(&message, format!("/users/{id}")))
        }
        Err(errors) => show_page(&cx, id, None, errors).await,
    }
}

/// An active user's open conversations, handed over in one step (someone away or offline
/// whose customers wait): to the queue, routed again, or to one person.
pub async fn hand_over(cx: Cx, id: Path<UserId>, Form(form): Form<DeactivateForm>) -> Answer {
    let id = id.into_inner();
    let handover = match handover_asked(&form, false) {
        Ok(handover) => handover,
        Err(errors) => return show_page(&cx, id, None, errors).await,
    };
    match cx
        .write(move |conn, me| offboarding::hand_over(conn, me, id, handover))
        .await
        .fields_apart()?
    {
        Ok(moved) => Ok(cx.done(
            // the phrase starts with the count: "3 open conversations were routed again."
            handed_over(handover, moved)
                .map(|what| format!("{what}."))
                .unwrap_or_else(|| "There were no open conversations to hand over.".into()),
            format!("/users/{id}"),
        )),
        Err(errors) => show_page(&cx, id, None, errors).await,
    }
}

/// Capacity (empty: the company's default) and the channels where new chats come to them.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RoutingForm {
    capacity: Option<String>,
    #[serde(deserialize_with = "lenient::ids")]
    receiving_channel_ids: Vec<Option<ChannelId>>,
}

pub async fn set_routing(cx: Cx, id: Path<UserId>, Form(form): Form<RoutingForm>) -> Answer {
    let id = id.into_inner();
    let capacity = match form.capacity.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse::<i32>().map(Some),
    };
    let receiving: Option<Vec<ChannelId>> = form.receiving_channel_ids.into_iter().collect();
    let settings = match (capacity, receiving) {
        (Ok(capacity), Some(receiving)) => assignments::RoutingSettings {
            capacity,
            receiving,
        },
        (Err(_), _) => {
            let errors = FieldErrors::from_one(
                "capacity",
                "A capacity is a whole number, or empty for the company's default.",
            );
            return show_page(&cx, id, None, errors).await;
        }
        (_, None) => {
            let errors = FieldErrors::from_one(
                "receiving_channel_ids",
                "Choose among the channels they work on.",
            );
            return show_page(&cx, id, None, errors).await;
        }
    };
    match cx
        .write(move |conn, me| assignments::set_routing(conn, me, id, &settings))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done("Routing was saved.", format!("/users/{id}"))),
        Err(errors) => show_page(&cx, id, None, errors).await,
    }
}

pub async fn reactivate(cx: Cx, id: Path<UserId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| users::reactivate(conn, me, id))
        .await?;
    Ok(cx.done("The user was reactivated.", format!("/users/{id}")))
}

pub async fn unlock(cx: Cx, id: Path<UserId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| users::unlock(conn, me, id))
        .await?;
    Ok(cx.done("The account was unlocked.", format!("/users/{id}")))
}

#[derive(Template)]
#[template(path = "users/reset.html")]
struct ResetPage {
    layout: Layout,
    user_id: UserId,
    display_name: String,
    temporary: String,
}

/// Shows the temporary password once: it is not stored anywhere it could be shown again.
pub async fn reset_password(cx: Cx, id: Path<UserId>) -> Answer {
    let user_id = id.into_inner();
    let (user, temporary) = cx
        .write(move |conn, me| users::reset_password(conn, me, user_id))
        .await?;
    page(&ResetPage {
        layout: cx.layout("Temporary password", "/users").await?,
        user_id,
        display_name: user.display_name,
        temporary,
    })
}

// ---- offboarding ----------------------------------------------------------------------------

pub struct CallTaskLine {
    id: CallTaskId,
    channel_name: String,
    call_status: String,
    created_at: String,
}

#[derive(Template)]
#[template(path = "users/offboard.html")]
struct OffboardPage {
    layout: Layout,
    list: Checklist,
    blockers: Vec<String>,
    call_tasks: Vec<CallTaskLine>,
    errors: FieldErrors,
}

async fn offboard_page(
    cx: &Cx,
    user_id: UserId,
    status: actix_web::http::StatusCode,
    errors: FieldErrors,
) -> Answer {
    let (layout, list) = cx
        .read_page("Offboard", "/users", move |conn, me| {
            users::get_visible(conn, me, user_id)?;
            let mask = me.viewer.contact_mask();
            offboarding::checklist(conn, me.company_id, user_id, mask)
        })
        .await?;
    let mut blockers = list.blockers();
    if list.user.id == cx.user.auth.user_id {
        blockers.push("You cannot delete your own account.".into());
    }
    render(
        status,
        &OffboardPage {
            layout,
            call_tasks: list
                .call_tasks
                .iter()
                .map(|t| CallTaskLine {
                    id: t.id,
                    channel_name: t.channel_name.clone(),
                    call_status: t.call_status.clone(),
                    created_at: format_time(&t.created_at),
                })
                .collect(),
            blockers,
            list,
            errors,
        },
    )
}

pub async fn offboard(cx: Cx, id: Path<UserId>) -> Answer {
    use actix_web::http::StatusCode;
    offboard_page(&cx, id.into_inner(), StatusCode::OK, FieldErrors::default()).await
}

pub async fn offboard_transfer(cx: Cx, id: Path<UserId>, Form(form): Form<AssigneeForm>) -> Answer {
    use actix_web::http::StatusCode;
    let id = id.into_inner();
    match cx
        .write(move |conn, me| {
            offboarding::transfer_open_conversations(conn, me, id, form.assignee_id)
        })
        .await
        .fields_apart()?
    {
        Ok(moved) => Ok(cx.done(
            format!(
                "{} transferred.",
                count(moved, "open conversation was", "open conversations were")
            ),
            format!("/users/{id}/offboard"),
        )),
        Err(errors) => offboard_page(&cx, id, StatusCode::UNPROCESSABLE_ENTITY, errors).await,
    }
}

pub async fn offboard_channels(cx: Cx, id: Path<UserId>) -> Answer {
    let id = id.into_inner();
    let removed = cx
        .write(move |conn, me| offboarding::leave_all_channels(conn, me, id))
        .await?;
    Ok(cx.done(
        format!(
            "The user was removed from {}.",
            count(removed, "channel", "channels")
        ),
        format!("/users/{id}/offboard"),
    ))
}

pub async fn delete(cx: Cx, id: Path<UserId>) -> Answer {
    use actix_web::http::StatusCode;
    let id = id.into_inner();
    match cx
        .write(move |conn, me| offboarding::delete_user(conn, me, id))
        .await
    {
        Ok(()) => Ok(cx.done(
            "The user was deleted. Their name stays in the history.",
            "/users",
        )),
        // what blocks it, on the checklist page, said beside Delete, with nothing changed
        Err(AppError::Conflict(message)) => {
            offboard_page(
                &cx,
                id,
                StatusCode::CONFLICT,
                FieldErrors::from_one("delete", message),
            )
            .await
        }
        Err(other) => Err(other),
    }
}

/// The form that asks everyone (or one role) to change their password at next sign-in.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct RotationForm {
    role_id: Option<RoleId>,
    /// The confirmation box: nothing happens without it.
    confirm: Option<String>,
}

#[derive(Template)]
#[template(path = "users/rotation.html")]
struct RotationPage {
    layout: Layout,
    roles: Vec<Choice<RoleId>>,
    /// Who has not changed their password since they were asked.
    waiting: i64,
    errors: FieldErrors,
}

async fn rotation_page(cx: &Cx, role_id: Option<RoleId>, errors: FieldErrors) -> Answer {
    let (layout, (role_list, waiting)) = cx
        .read_page("Require a password change", "/users", |conn, me| {
            use diesel::prelude::*;
            let waiting: i64 = crate::db::schema::users::table
                .filter(crate::db::schema::users::company_id.eq(me.company_id))
                .filter(
                    crate::db::schema::users::status.eq(crate::core::status::UserStatus::Active),
                )
                .filter(crate::db::schema::users::must_change_password.eq(true))
                .count()
                .get_result(conn)?;
            Ok((roles::list(conn, me.company_id)?, waiting))
        })
        .await?;
    let page = RotationPage {
        layout,
        roles: choices(role_list, role_id, |r| (r.id, r.name)),
        waiting,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn rotation(cx: Cx) -> Answer {
    rotation_page(&cx, None, FieldErrors::default()).await
}

pub async fn require_password_change(cx: Cx, Form(form): Form<RotationForm>) -> Answer {
    let role_id = form.role_id;
    if form.confirm.is_none() {
        let mut errors = FieldErrors::default();
        errors.add(
            "confirm",
            "Tick the box to confirm: everyone chosen must change their password before anything else.",
        );
        return rotation_page(&cx, role_id, errors).await;
    }
    match cx
        .write(move |conn, me| users::require_password_change(conn, me, role_id))
        .await
        .fields_apart()?
    {
        Ok(done) => Ok(cx.done(
            format!(
                "{} must change their password at next sign-in; {} skipped (you, and those you may not act on).",
                count(done.asked, "user", "users"),
                done.skipped
            ),
            "/users?status=active",
        )),
        Err(errors) => rotation_page(&cx, role_id, errors).await,
    }
}
