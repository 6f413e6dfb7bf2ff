//! Quick replies: short texts an agent drops into the composer. Shared ones belong to the
//! company and are written under `templates.manage`; personal ones belong to their owner, and
//! nobody else sees them. Placeholders (`{{contact.first_name}}`, …) are filled for the
//! conversation at hand from what the agent may see: a contact name the agent sees masked
//! fills in as nothing, so no masked (or unmasked) detail ever reaches the composer.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::core::ids::{QuickReplyId, UserId};
use crate::core::permissions::Permission;
use crate::db::DbConnection;
use crate::db::schema::quick_replies;
use crate::domain::{Caller, audit, now};
use crate::error::{AppError, FieldErrors};

/// The placeholders a quick reply may hold.
pub const PLACEHOLDERS: [&str; 5] = [
    "contact.name",
    "contact.first_name",
    "agent.name",
    "agent.first_name",
    "company.name",
];

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = quick_replies)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct QuickReply {
    pub id: QuickReplyId,
    pub owner_id: Option<UserId>,
    pub title: String,
    pub body: String,
    pub updated_at: NaiveDateTime,
}

impl QuickReply {
    /// The company's, rather than one person's.
    pub fn shared(&self) -> bool {
        self.owner_id.is_none()
    }
}

/// What the user may insert: the company's shared quick replies and their own, by title.
pub fn usable(conn: &mut DbConnection, me: &Caller) -> Result<Vec<QuickReply>, AppError> {
    Ok(quick_replies::table
        .filter(quick_replies::company_id.eq(me.company_id))
        .filter(
            quick_replies::owner_id
                .is_null()
                .or(quick_replies::owner_id.eq(me.user_id())),
        )
        .order((quick_replies::owner_id.is_not_null(), quick_replies::title))
        .select(QuickReply::as_select())
        .load(conn)?)
}

/// One the user may insert, or 404 (another person's personal one is as good as missing).
pub fn get_usable(
    conn: &mut DbConnection,
    me: &Caller,
    id: QuickReplyId,
) -> Result<QuickReply, AppError> {
    let reply: QuickReply = quick_replies::table
        .filter(quick_replies::id.eq(id))
        .filter(quick_replies::company_id.eq(me.company_id))
        .select(QuickReply::as_select())
        .first(conn)?;
    match reply.owner_id {
        Some(owner) if owner != me.user_id() => Err(AppError::NotFound),
        _ => Ok(reply),
    }
}

/// One the user may change: their own, or a shared one with `templates.manage` (else 403).
fn get_editable(
    conn: &mut DbConnection,
    me: &Caller,
    id: QuickReplyId,
) -> Result<QuickReply, AppError> {
    let reply = get_usable(conn, me, id)?;
    if reply.shared() && !me.permissions().contains(Permission::TemplatesManage) {
        return Err(AppError::Forbidden);
    }
    Ok(reply)
}

/// A quick reply as typed.
pub struct Draft {
    pub title: String,
    pub body: String,
    /// For the whole company (needs `templates.manage`), else the author's own.
    pub shared: bool,
}

/// Title and text, checked: every rule that fails is named beside its field.
fn checked(draft: &Draft) -> Result<(String, String), AppError> {
    let mut errors = FieldErrors::default();
    let title = draft.title.trim().to_string();
    if title.is_empty() || title.chars().count() > 80 || !crate::core::text::storable(&title) {
        errors.add("title", "A title is 1 to 80 characters.");
    }
    let body = draft.body.trim().to_string();
    if body.is_empty() || body.chars().count() > 2000 || !crate::core::text::storable(&body) {
        errors.add("body", "The text is 1 to 2000 characters.");
    } else if let Some(unknown) = placeholders(&body).find(|p| !PLACEHOLDERS.contains(p)) {
        errors.add(
            "body",
            format!(
                "{{{{{unknown}}}}} is not a placeholder; use {}.",
                PLACEHOLDERS
                    .iter()
                    .map(|p| format!("{{{{{p}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    errors.into_result()?;
    Ok((title, body))
}

/// The names inside `{{ … }}` in a text, trimmed.
fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split("{{")
        .skip(1)
        .filter_map(|rest| rest.split_once("}}").map(|(name, _)| name.trim()))
}

fn record(
    conn: &mut DbConnection,
    me: &Caller,
    action: &'static str,
    id: QuickReplyId,
    title: &str,
    shared: bool,
    verb: &str,
) -> Result<(), AppError> {
    let kind = if shared { "shared" } else { "personal" };
    audit::Entry::new(me.company_id, &me.actor, action)
        .on("quick_reply", id, title)
        .saying(format!("{kind} quick reply \"{title}\" {verb}"))
        .write(conn)
}

pub fn create(
    conn: &mut DbConnection,
    me: &Caller,
    draft: &Draft,
) -> Result<QuickReplyId, AppError> {
    if draft.shared && !me.permissions().contains(Permission::TemplatesManage) {
        return Err(AppError::Forbidden);
    }
    let (title, body) = checked(draft)?;
    let at = now();
    let id: QuickReplyId = diesel::insert_into(quick_replies::table)
        .values((
            quick_replies::company_id.eq(me.company_id),
            quick_replies::owner_id.eq((!draft.shared).then(|| me.user_id())),
            quick_replies::title.eq(&title),
            quick_replies::body.eq(&body),
            quick_replies::created_at.eq(at),
            quick_replies::updated_at.eq(at),
        ))
        .returning(quick_replies::id)
        .get_result(conn)?;
    record(
        conn,
        me,
        "quick_reply.create",
        id,
        &title,
        draft.shared,
        "created",
    )?;
    Ok(id)
}

/// Changes title and text (who it belongs to stays).
pub fn update(
    conn: &mut DbConnection,
    me: &Caller,
    id: QuickReplyId,
    draft: &Draft,
) -> Result<(), AppError> {
    let reply = get_editable(conn, me, id)?;
    let (title, body) = checked(draft)?;
    if title == reply.title && body == reply.body {
        return Ok(());
    }
    diesel::update(quick_replies::table.find(reply.id))
        .set((
            quick_replies::title.eq(&title),
            quick_replies::body.eq(&body),
            quick_replies::updated_at.eq(now()),
        ))
        .execute(conn)?;
    record(
        conn,
        me,
        "quick_reply.update",
        reply.id,
        &title,
        reply.shared(),
        "changed",
    )
}

pub fn delete(conn: &mut DbConnection, me: &Caller, id: QuickReplyId) -> Result<(), AppError> {
    let reply = get_editable(conn, me, id)?;
    diesel::delete(quick_replies::table.find(reply.id)).execute(conn)?;
    record(
        conn,
        me,
        "quick_reply.delete",
        reply.id,
        &reply.title,
        reply.shared(),
        "deleted",
    )
}

/// What the placeholders stand for in one conversation, as its viewer sees it.
pub struct Filling<'a> {
    /// The contact's name as shown to the viewer (masked when they see it masked).
    pub contact_name: &'a str,
    pub agent_name: &'a str,
    pub company_name: &'a str,
}

/// The text with its placeholders filled. A masked contact name (it holds `*`) fills in as
/// nothing: the customer must never receive a masked detail, and the agent never the real
/// one.
pub fn fill(body: &str, with: &Filling<'_>) -> String {
    let contact = if with.contact_name.contains('*') {
        ""
    } else {
        with.contact_name
    };
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some((name, tail)) = after.split_once("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let value = match name.trim() {
            "contact.name" => contact.to_string(),
            "contact.first_name" => first_word(contact),
            "agent.name" => with.agent_name.to_string(),
            "agent.first_name" => first_word(with.agent_name),
            "company.name" => with.company_name.to_string(),
            // an unknown one (saved before the rule, or never): nothing
            _ => String::new(),
        };
        out.push_str(&value);
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn first_word(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_from_what_the_agent_sees() {
        let with = Filling {
            contact_name: "Deniz Yılmaz",
            agent_name: "Alice Moreau",
            company_name: "Demo Trading Co.",
        };
        assert_eq!(
            fill(
                "Hi {{contact.first_name}}, {{ agent.first_name }} of {{company.name}} here.",
                &with
            ),
            "Hi Deniz, Alice of Demo Trading Co. here."
        );
        // a name the agent sees masked (a number) fills in as nothing, masked or not
        let masked = Filling {
            contact_name: "+90 *** *** **67",
            ..with
        };
        assert_eq!(fill("Hi {{contact.name}}!", &masked), "Hi !");
        assert_eq!(
            fill("Unclosed {{contact.name", &masked),
            "Unclosed {{contact.name"
        );
        assert_eq!(fill("{{contact.phone}}", &with), "");
    }

    #[test]
    fn only_known_placeholders_are_accepted() {
        let draft = |body: &str| Draft {
            title: "Greeting".into(),
            body: body.into(),
            shared: false,
        };
        assert!(checked(&draft("Hello {{contact.first_name}}")).is_ok());
        assert!(checked(&draft("Your number is {{contact.phone}}")).is_err());
        assert!(checked(&draft("  ")).is_err());
    }
}
