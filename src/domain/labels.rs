//! Labels: records of the company, named as first written and compared case-insensitively.
//! A label may be restricted to some roles: a conversation carrying it is visible only to
//! those roles (on every page, export, report and live update, through
//! `domain::visibility`), and only they may add or remove it.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;

use crate::core::ids::{CompanyId, ConversationId, LabelId, RoleId, UserId};
use crate::core::masking::mask_identifier;
use crate::db::DbConnection;
use crate::db::schema::{conversation_labels, label_roles, labels, roles, users};
use crate::domain::{Caller, audit, now};
use crate::error::{AppError, FieldErrors};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = labels)]
pub struct Label {
    pub id: LabelId,
    pub company_id: CompanyId,
    pub name: String,
    /// Its conversations' customers' data is not erased while they carry it.
    pub legal_hold: bool,
}

/// A label's name as typed, checked: 1 to 30 letters, digits, spaces, '-' or '_', and never a
/// phone number (labels show unmasked everywhere).
pub fn clean_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let valid = !name.is_empty()
        && name.chars().count() <= 30
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '_');
    if !valid {
        return Err("A label is 1 to 30 letters, digits, spaces, '-' or '_'.".into());
    }
    let key = key_of(name);
    if mask_identifier(&key) != key {
        return Err(
            "A label cannot hold a phone number or another run of six or more digits.".into(),
        );
    }
    Ok(name.to_string())
}

/// What a label compares by (and what `conversation_labels.label` holds).
pub fn key_of(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The company's label with this name (any case), if there is one.
pub fn find(
    conn: &mut DbConnection,
    company_id: CompanyId,
    name: &str,
) -> Result<Option<Label>, AppError> {
    Ok(labels::table
        .filter(labels::company_id.eq(company_id))
        .filter(labels::key.eq(key_of(name)))
        .select(Label::as_select())
        .first(conn)
        .optional()?)
}

/// The label named `name` (already checked by [`clean_name`]), created as written when the
/// company has none by that name. Two people creating it at once get the same one.
pub fn find_or_create(
    conn: &mut DbConnection,
    company_id: CompanyId,
    name: &str,
) -> Result<Label, AppError> {
    if let Some(label) = find(conn, company_id, name)? {
        return Ok(label);
    }
    let row = (
        labels::company_id.eq(company_id),
        labels::name.eq(name),
        labels::key.eq(key_of(name)),
        labels::created_at.eq(now()),
    );
    let insert = diesel::insert_into(labels::table).values(row);
    match conn {
        DbConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
        DbConnection::Postgres(c) => insert.on_conflict_do_nothing().execute(c)?,
    };
    find(conn, company_id, name)?.ok_or_else(|| AppError::internal("label vanished"))
}

/// The restricted labels of the company that `user_id`'s current role may not see: the
/// conversations carrying any of them are not visible to the user. Empty (and one query) when
/// the company restricts nothing.
pub fn hidden_from(
    conn: &mut DbConnection,
    company_id: CompanyId,
    user_id: UserId,
) -> Result<Vec<LabelId>, AppError> {
    let restricted: Vec<(LabelId, RoleId)> = label_roles::table
        .inner_join(labels::table)
        .filter(labels::company_id.eq(company_id))
        .select((label_roles::label_id, label_roles::role_id))
        .load(conn)?;
    if restricted.is_empty() {
        return Ok(Vec::new());
    }
    let role: Option<RoleId> = users::table
        .find(user_id)
        .select(users::role_id)
        .first(conn)
        .optional()?;
    let allowed: BTreeSet<LabelId> = restricted
        .iter()
        .filter(|(_, r)| Some(*r) == role)
        .map(|(label, _)| *label)
        .collect();
    let hidden: BTreeSet<LabelId> = restricted
        .iter()
        .map(|(label, _)| *label)
        .filter(|label| !allowed.contains(label))
        .collect();
    Ok(hidden.into_iter().collect())
}

/// A label on the labels page: how many conversations carry it and whom it is limited to.
pub struct LabelSummary {
    pub label: Label,
    pub conversations: i64,
    /// Empty: not restricted.
    pub roles: Vec<(RoleId, String)>,
}

/// Every label of the company by name (three queries).
pub fn list(conn: &mut DbConnection, company_id: CompanyId) -> Result<Vec<LabelSummary>, AppError> {
    let all: Vec<Label> = labels::table
        .filter(labels::company_id.eq(company_id))
        .order(labels::key)
        .select(Label::as_select())
        .load(conn)?;
    let ids: Vec<LabelId> = all.iter().map(|l| l.id).collect();
    let counts: Vec<(Option<LabelId>, i64)> = conversation_labels::table
        .filter(conversation_labels::company_id.eq(company_id))
        .group_by(conversation_labels::label_id)
        .select((conversation_labels::label_id, diesel::dsl::count_star()))
        .load(conn)?;
    let limited: Vec<(LabelId, RoleId, String)> = label_roles::table
        .inner_join(roles::table)
        .filter(label_roles::label_id.eq_any(&ids))
        .order(roles::name)
        .select((label_roles::label_id, roles::id, roles::name))
        .load(conn)?;
    Ok(all
        .into_iter()
        .map(|label| LabelSummary {
            conversations: counts
                .iter()
                .find(|(id, _)| *id == Some(label.id))
                .map_or(0, |(_, n)| *n),
            roles: limited
                .iter()
                .filter(|(id, _, _)| *id == label.id)
                .map(|(_, role, name)| (*role, name.clone()))
                .collect(),
            label,
        })
        .collect())
}

/// The roles a label is limited to (empty: not restricted).
fn roles_of(conn: &mut DbConnection, label_id: LabelId) -> Result<Vec<RoleId>, AppError> {
    Ok(label_roles::table
        .filter(label_roles::label_id.eq(label_id))
        .select(label_roles::role_id)
        .load(conn)?)
}

/// Whether the caller's role may see, add and remove this label.
pub fn may_use(conn: &mut DbConnection, me: &Caller, label_id: LabelId) -> Result<bool, AppError> {
    Ok(!hidden_from(conn, me.company_id, me.user_id())?.contains(&label_id))
}

/// Creates the label `name` if needed and limits it to `role_ids` (none: anyone may see it).
/// Changing a restricted label is for the roles it is limited to (403 otherwise: nobody lifts a
/// restriction that hides conversations from them). Recorded, before → after.
pub fn restrict(
    conn: &mut DbConnection,
    me: &Caller,
    name: &str,
    role_ids: &[Option<RoleId>],
    legal_hold: bool,
) -> Result<LabelId, AppError> {
    let mut errors = FieldErrors::default();
    let name = errors.check("name", clean_name(name).map(Some));
    let wanted: BTreeSet<RoleId> = role_ids.iter().flatten().copied().collect();
    let known: Vec<(RoleId, String)> = roles::table
        .filter(roles::company_id.eq(me.company_id))
        .filter(roles::id.eq_any(wanted.iter().copied().collect::<Vec<_>>()))
        .order(roles::name)
        .select((roles::id, roles::name))
        .load(conn)?;
    if known.len() != wanted.len() || role_ids.contains(&None) {
        errors.add("restricted_role_ids", "Choose roles of this company only.");
    }
    errors.into_result()?;
    let Some(name) = name else {
        return Err(AppError::internal("validated label name missing"));
    };
    let label = find_or_create(conn, me.company_id, &name)?;
    let before = roles_of(conn, label.id)?;
    if !before.is_empty() && !may_use(conn, me, label.id)? {
        return Err(AppError::Forbidden);
    }
    let before_names: Vec<String> = roles::table
        .filter(roles::id.eq_any(&before))
        .order(roles::name)
        .select(roles::name)
        .load(conn)?;
    diesel::delete(label_roles::table.filter(label_roles::label_id.eq(label.id))).execute(conn)?;
    for (role_id, _) in &known {
        diesel::insert_into(label_roles::table)
            .values((
                label_roles::label_id.eq(label.id),
                label_roles::role_id.eq(*role_id),
            ))
            .execute(conn)?;
    }
    let describe = |names: Vec<String>| {
        if names.is_empty() {
            "everyone".to_string()
        } else {
            names.join(", ")
        }
    };
    if legal_hold != label.legal_hold {
        diesel::update(labels::table.find(label.id))
            .set(labels::legal_hold.eq(legal_hold))
            .execute(conn)?;
        audit::Entry::new(me.company_id, &me.actor, "label.legal_hold")
            .about("label", &label.name)
            .saying(format!(
                "label {}: legal hold {}",
                label.name,
                if legal_hold { "on" } else { "off" }
            ))
            .write(conn)?;
    }
    let after_names: Vec<String> = known.into_iter().map(|(_, n)| n).collect();
    if before_names != after_names {
        audit::Entry::new(me.company_id, &me.actor, "label.restrict")
            .about("label", &label.name)
            .saying(format!(
                "label {}: visible to {} → {}",
                label.name,
                describe(before_names),
                describe(after_names)
            ))
            .write(conn)?;
    }
    Ok(label.id)
}

/// The restricted labels some conversations carry, each as the roles it allows: whoever is
/// given one of those conversations must hold a role every one of them allows, or it would
/// vanish from their view the moment it is theirs.
#[derive(Debug, Default)]
pub struct Restrictions {
    by_conversation: HashMap<ConversationId, Vec<Vec<RoleId>>>,
}

impl Restrictions {
    /// The restrictions on one conversation (empty: anyone may hold it).
    pub fn on(&self, conversation: ConversationId) -> &[Vec<RoleId>] {
        self.by_conversation
            .get(&conversation)
            .map_or(&[], Vec::as_slice)
    }

    /// Every restriction on any of the conversations.
    pub fn all(&self) -> Vec<Vec<RoleId>> {
        self.by_conversation.values().flatten().cloned().collect()
    }
}

/// Whether a holder of `role` may be given a conversation under `required`.
pub fn allows(required: &[Vec<RoleId>], role: RoleId) -> bool {
    required.iter().all(|roles| roles.contains(&role))
}

/// The restrictions on these conversations: one query when the company restricts nothing,
/// two otherwise.
pub fn restrictions_on(
    conn: &mut DbConnection,
    company_id: CompanyId,
    conversations: &[ConversationId],
) -> Result<Restrictions, AppError> {
    let restricted: Vec<(LabelId, RoleId)> = label_roles::table
        .inner_join(labels::table)
        .filter(labels::company_id.eq(company_id))
        .select((label_roles::label_id, label_roles::role_id))
        .load(conn)?;
    if restricted.is_empty() || conversations.is_empty() {
        return Ok(Restrictions::default());
    }
    let label_ids: BTreeSet<LabelId> = restricted.iter().map(|(l, _)| *l).collect();
    let carried: Vec<(ConversationId, Option<LabelId>)> = conversation_labels::table
        .filter(conversation_labels::conversation_id.eq_any(conversations))
        .filter(
            conversation_labels::label_id
                .eq_any(label_ids.iter().map(|l| Some(*l)).collect::<Vec<_>>()),
        )
        .select((
            conversation_labels::conversation_id,
            conversation_labels::label_id,
        ))
        .load(conn)?;
    let mut by_conversation: HashMap<ConversationId, Vec<Vec<RoleId>>> = HashMap::new();
    for (conversation, label) in carried {
        let roles: Vec<RoleId> = restricted
            .iter()
            .filter(|(l, _)| Some(*l) == label)
            .map(|(_, r)| *r)
            .collect();
        by_conversation.entry(conversation).or_default().push(roles);
    }
    Ok(Restrictions { by_conversation })
}
