//! Message templates (WhatsApp-style): a name, a language, a category and a body with numbered
//! placeholders (`{{1}}`, `{{2}}`…). `templates.manage` drafts and submits; a holder of
//! `templates.approve` other than the author approves or rejects (with a reason). An approved
//! version never changes: editing it makes a new draft version, which needs approval again.
//! Agents send only approved templates.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::core::ids::{CompanyId, TemplateId, UserId};
use crate::core::permissions::Permission;
use crate::core::status::{ApprovalKind, TemplateCategory, TemplateStatus};
use crate::db::DbConnection;
use crate::db::schema::{message_templates, users};
use crate::domain::{Caller, approvals, audit, now};
use crate::error::{AppError, FieldErrors};

/// The longest template body (WhatsApp's limit).
pub const MAX_BODY: usize = 1024;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = message_templates)]
pub struct Template {
    pub id: TemplateId,
    pub company_id: CompanyId,
    pub name: String,
    pub language: String,
    pub category: TemplateCategory,
    pub body: String,
    pub status: TemplateStatus,
    pub version: i32,
    pub previous_id: Option<TemplateId>,
    pub author_id: UserId,
    pub decided_by_id: Option<UserId>,
    pub decided_at: Option<NaiveDateTime>,
    pub reason: Option<String>,
}

impl Template {
    /// "order_update (en) v2".
    pub fn title(&self) -> String {
        format!("{} ({}) v{}", self.name, self.language, self.version)
    }

    /// How many values the body takes.
    pub fn placeholders(&self) -> usize {
        placeholders(&self.body).map_or(0, |numbers| numbers.len())
    }
}

/// A template as its form sends it.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub name: String,
    pub language: String,
    pub category: String,
    pub body: String,
}

/// The numbers of the placeholders in a body, or why they are not 1, 2, … n.
fn placeholders(body: &str) -> Result<Vec<usize>, String> {
    let mut numbers = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("A placeholder opened with {{ is never closed with }}.".into());
        };
        let inside = after[..end].trim();
        match inside.parse::<usize>() {
            Ok(n) if n >= 1 => numbers.push(n),
            _ => {
                return Err(format!(
                    "Placeholders are numbered: {{{{1}}}}, {{{{2}}}}… not {{{{{inside}}}}}."
                ));
            }
        }
        rest = &after[end + 2..];
    }
    let mut distinct = numbers.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.iter().enumerate().any(|(i, n)| *n != i + 1) {
        return Err("Placeholders are numbered from {{1}} without gaps.".into());
    }
    Ok(distinct)
}

struct Checked {
    name: String,
    language: String,
    category: TemplateCategory,
    body: String,
}

fn check(draft: &Draft) -> Result<Checked, AppError> {
    let mut errors = FieldErrors::default();
    let name = draft.name.trim().to_string();
    let name_ok = (1..=60).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !name_ok {
        errors.add(
            "name",
            "A template name is 1 to 60 lower-case letters, digits and '_' (order_update).",
        );
    }
    let language = draft.language.trim().to_string();
    let bytes = language.as_bytes();
    let language_ok = match bytes.len() {
        2 => bytes.iter().all(u8::is_ascii_lowercase),
        5 => {
            bytes[..2].iter().all(u8::is_ascii_lowercase)
                && bytes[2] == b'_'
                && bytes[3..].iter().all(u8::is_ascii_uppercase)
        }
        _ => false,
    };
    if !language_ok {
        errors.add("language", "A language is a code such as en, tr or pt_BR.");
    }
    let category = TemplateCategory::parse(draft.category.trim());
    if category.is_none() {
        errors.add("category", "Choose marketing, utility or authentication.");
    }
    let body = draft.body.trim().to_string();
    if body.is_empty() || body.chars().count() > MAX_BODY || !crate::core::text::storable(&body) {
        errors.add("body", format!("The text is 1 to {MAX_BODY} characters."));
    } else if let Err(problem) = placeholders(&body) {
        errors.add("body", problem);
    }
    errors.into_result()?;
    let Some(category) = category else {
        return Err(AppError::internal("validated category missing"));
    };
    Ok(Checked {
        name,
        language,
        category,
        body,
    })
}

/// A template of the company, or 404.
pub fn get(
    conn: &mut DbConnection,
    company_id: CompanyId,
    id: TemplateId,
) -> Result<Template, AppError> {
    Ok(message_templates::table
        .filter(message_templates::company_id.eq(company_id))
        .filter(message_templates::id.eq(id))
        .select(Template::as_select())
        .first(conn)?)
}

/// A template with its author's name, for lists.
pub struct Listed {
    pub template: Template,
    pub author: String,
}

/// Every version of every template of the company: by name, language, newest version first.
pub fn list(conn: &mut DbConnection, company_id: CompanyId) -> Result<Vec<Listed>, AppError> {
    let rows: Vec<(Template, String)> = message_templates::table
        .inner_join(users::table.on(users::id.eq(message_templates::author_id)))
        .filter(message_templates::company_id.eq(company_id))
        .order((
            message_templates::name,
            message_templates::language,
            message_templates::version.desc(),
        ))
        .select((Template::as_select(), users::display_name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(template, author)| Listed { template, author })
        .collect())
}

/// What may be sent: the newest approved version of each template of the company.
pub fn approved(conn: &mut DbConnection, company_id: CompanyId) -> Result<Vec<Template>, AppError> {
    let all: Vec<Template> = message_templates::table
        .filter(message_templates::company_id.eq(company_id))
        .filter(message_templates::status.eq(TemplateStatus::Approved))
        .order((
            message_templates::name,
            message_templates::language,
            message_templates::version.desc(),
        ))
        .select(Template::as_select())
        .load(conn)?;
    let mut newest: Vec<Template> = Vec::new();
    for template in all {
        let seen = newest
            .iter()
            .any(|t| t.name == template.name && t.language == template.language);
        if !seen {
            newest.push(template);
        }
    }
    Ok(newest)
}

/// An approved template that may be sent (the newest approved version), or 404.
pub fn sendable(
    conn: &mut DbConnection,
    company_id: CompanyId,
    id: TemplateId,
) -> Result<Template, AppError> {
    approved(conn, company_id)?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or(AppError::NotFound)
}

/// Creates a draft (version 1). A name and language already in use is a 422: change that
/// template instead.
pub fn create(conn: &mut DbConnection, me: &Caller, draft: &Draft) -> Result<TemplateId, AppError> {
    let checked = check(draft)?;
    let taken: i64 = message_templates::table
        .filter(message_templates::company_id.eq(me.company_id))
        .filter(message_templates::name.eq(&checked.name))
        .filter(message_templates::language.eq(&checked.language))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(AppError::field(
            "name",
            format!(
                "A template {} in {} exists already: change it instead.",
                checked.name, checked.language
            ),
        ));
    }
    let id = insert(conn, me, &checked, 1, None)?;
    audit::Entry::new(me.company_id, &me.actor, "template.create")
        .on("template", id, &checked.name)
        .saying(format!(
            "template {} ({}, {}) drafted",
            checked.name, checked.language, checked.category
        ))
        .write(conn)?;
    Ok(id)
}

fn insert(
    conn: &mut DbConnection,
    me: &Caller,
    checked: &Checked,
    version: i32,
    previous: Option<TemplateId>,
) -> Result<TemplateId, AppError> {
    let at = now();
    Ok(diesel::insert_into(message_templates::table)
        .values((
            message_templates::company_id.eq(me.company_id),
            message_templates::name.eq(&checked.name),
            message_templates::language.eq(&checked.language),
            message_templates::category.eq(checked.category),
            message_templates::body.eq(&checked.body),
            message_templates::status.eq(TemplateStatus::Draft),
            message_templates::version.eq(version),
            message_templates::previous_id.eq(previous),
            message_templates::author_id.eq(me.user_id()),
            message_templates::created_at.eq(at),
            message_templates::updated_at.eq(at),
        ))
        .returning(message_templates::id)
        .get_result(conn)?)
}

/// Changes a template: a draft or rejected version in place (a draft again); an approved one
/// by a new draft version (returned); a submitted one not at all (409: it awaits a decision).
/// The name and language stay those of the template.
pub fn update(
    conn: &mut DbConnection,
    me: &Caller,
    id: TemplateId,
    draft: &Draft,
) -> Result<TemplateId, AppError> {
    let current = get(conn, me.company_id, id)?;
    let checked = check(&Draft {
        name: current.name.clone(),
        language: current.language.clone(),
        ..draft.clone()
    })?;
    match current.status {
        TemplateStatus::Submitted => Err(AppError::Conflict(
            "This version awaits a decision: withdraw the request first to change it.".into(),
        )),
        TemplateStatus::Approved => {
            let newer: i64 = message_templates::table
                .filter(message_templates::previous_id.eq(current.id))
                .count()
                .get_result(conn)?;
            if newer > 0 {
                return Err(AppError::Conflict(
                    "A newer version of this template exists: change that one.".into(),
                ));
            }
            let new_id = insert(conn, me, &checked, current.version + 1, Some(current.id))?;
            audit::Entry::new(me.company_id, &me.actor, "template.version")
                .on("template", new_id, &current.name)
                .saying(format!(
                    "{} drafted as version {}; body: {} → {}",
                    current.title(),
                    current.version + 1,
                    current.body,
                    checked.body
                ))
                .write(conn)?;
            Ok(new_id)
        }
        TemplateStatus::Draft | TemplateStatus::Rejected => {
            diesel::update(message_templates::table.find(current.id))
                .set((
                    message_templates::category.eq(checked.category),
                    message_templates::body.eq(&checked.body),
                    message_templates::status.eq(TemplateStatus::Draft),
                    message_templates::updated_at.eq(now()),
                ))
                .execute(conn)?;
            audit::Entry::new(me.company_id, &me.actor, "template.update")
                .on("template", current.id, &current.name)
                .saying(format!(
                    "{}: category {} → {}; body: {} → {}",
                    current.title(),
                    current.category,
                    checked.category,
                    current.body,
                    checked.body
                ))
                .write(conn)?;
            Ok(current.id)
        }
    }
}

/// Submits a draft (or a rejected version) for approval: an approval request decided by
/// holders of `templates.approve`. 409 for anything else.
pub fn submit(conn: &mut DbConnection, me: &Caller, id: TemplateId) -> Result<(), AppError> {
    let template = get(conn, me.company_id, id)?;
    if !matches!(
        template.status,
        TemplateStatus::Draft | TemplateStatus::Rejected
    ) {
        return Err(AppError::Conflict(format!(
            "This version is {}: only a draft is submitted.",
            template.status
        )));
    }
    // submitted once: of two submits at once, the second finds it submitted (409)
    let submitted = diesel::update(
        message_templates::table
            .find(template.id)
            .filter(message_templates::status.eq(template.status)),
    )
    .set((
        message_templates::status.eq(TemplateStatus::Submitted),
        message_templates::reason.eq(None::<String>),
        message_templates::updated_at.eq(now()),
    ))
    .execute(conn)?;
    if submitted == 0 {
        return Err(AppError::Conflict("It was submitted a moment ago.".into()));
    }
    approvals::open(
        conn,
        me,
        ApprovalKind::Template,
        template.id.0,
        Permission::TemplatesApprove,
        &format!("template {}", template.title()),
    )?;
    Ok(())
}

/// Approves or rejects a submitted version (a rejection needs a reason): never by its author
/// or the person who submitted it (409). Recorded with the request.
pub fn decide(
    conn: &mut DbConnection,
    me: &Caller,
    id: TemplateId,
    approve: bool,
    reason: &str,
) -> Result<(), AppError> {
    let template = get(conn, me.company_id, id)?;
    if template.author_id == me.user_id() {
        return Err(AppError::Conflict(
            "You wrote this template: another person must approve it.".into(),
        ));
    }
    approvals::decide(
        conn,
        me,
        ApprovalKind::Template,
        template.id.0,
        approve,
        reason,
    )?;
    let status = if approve {
        TemplateStatus::Approved
    } else {
        TemplateStatus::Rejected
    };
    let at = now();
    diesel::update(message_templates::table.find(template.id))
        .set((
            message_templates::status.eq(status),
            message_templates::decided_by_id.eq(Some(me.user_id())),
            message_templates::decided_at.eq(Some(at)),
            message_templates::reason.eq((!approve).then_some(reason)),
            message_templates::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The template's text with `values` in its placeholders: exactly as many values as it has
/// placeholders, each 1 to 200 characters on one line (422 otherwise).
pub fn fill(template: &Template, values: &[String]) -> Result<String, AppError> {
    let wanted = template.placeholders();
    let values: Vec<&str> = values.iter().map(|v| v.trim()).collect();
    let bad = values.len() != wanted
        || values.iter().any(|v| {
            v.is_empty()
                || v.chars().count() > 200
                || v.contains('\n')
                || !crate::core::text::storable(v)
        });
    if bad {
        return Err(AppError::field(
            "values",
            format!(
                "{} takes {wanted} value{}, each 1 to 200 characters on one line.",
                template.name,
                if wanted == 1 { "" } else { "s" }
            ),
        ));
    }
    let mut text = template.body.clone();
    for (i, value) in values.iter().enumerate() {
        text = text.replace(&format!("{{{{{}}}}}", i + 1), value);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_one_without_gaps() {
        assert_eq!(
            placeholders("Hi {{1}}, order {{2}} ({{1}})"),
            Ok(vec![1, 2])
        );
        assert_eq!(placeholders("No values"), Ok(vec![]));
        assert!(placeholders("Hi {{2}}").is_err());
        assert!(placeholders("Hi {{name}}").is_err());
        assert!(placeholders("Hi {{1").is_err());
    }
}
