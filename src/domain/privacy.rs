//! Data-subject requests (GDPR / KVKK), `privacy.manage`: everything the company holds about
//! one customer — profile, conversations with their labels, messages, call tasks and the
//! record of who revealed their details — as one JSON document. Masked like every other
//! output for a holder without `contacts.view_unmasked`; the audit record says which it was.
//! The visibility rule holds: a customer with a conversation the requester may not see (a
//! restricted label, another team's channel) is not exported by them (409), never partly.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::core::ids::{ChannelId, ContactId, ConversationId, UserId};
use crate::db::DbConnection;
use crate::db::schema::{
    call_tasks, channels, contact_reveals, contacts, conversation_labels, conversations, messages,
    users,
};
use crate::domain::{Caller, audit};
use crate::error::AppError;

/// What erased text becomes.
pub const ERASED: &str = "[erased]";

fn time(at: &NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The visibility rule holds for data-subject requests too (a restricted label, a channel or
/// team line): 409 when any of the customer's conversations is outside what `me` may see.
fn refuse_if_any_hidden(
    conn: &mut DbConnection,
    me: &Caller,
    ids: &[ConversationId],
    consequence: &str,
) -> Result<(), AppError> {
    let visible = crate::domain::conversations::visible_to(conn, &me.viewer)?;
    let seen: i64 = conversations::table
        .filter(conversations::id.eq_any(ids))
        .filter(visible)
        .count()
        .get_result(conn)?;
    let hidden = ids.len() as i64 - seen;
    if hidden > 0 {
        return Err(AppError::Conflict(format!(
            "{hidden} of this customer's conversations are outside what you may see, so \
             {consequence}: ask someone who sees them all."
        )));
    }
    Ok(())
}

/// The customer's data as a JSON document (404 for a contact of another company). Recorded.
pub fn subject_export(
    conn: &mut DbConnection,
    me: &Caller,
    contact_id: ContactId,
) -> Result<Value, AppError> {
    let mask = me.viewer.contact_mask();
    let (name, phone, email, created_at): (String, Option<String>, Option<String>, NaiveDateTime) =
        contacts::table
            .filter(contacts::company_id.eq(me.company_id))
            .filter(contacts::id.eq(contact_id))
            .select((
                contacts::name,
                contacts::phone,
                contacts::email,
                contacts::created_at,
            ))
            .first(conn)?;
    let conversation_rows: Vec<(
        ConversationId,
        String,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
    )> = conversations::table
        .inner_join(channels::table.on(channels::id.eq(conversations::channel_id)))
        .filter(conversations::company_id.eq(me.company_id))
        .filter(conversations::contact_id.eq(contact_id))
        .order(conversations::id)
        .select((
            conversations::id,
            channels::name,
            conversations::status,
            conversations::created_at,
            conversations::closed_at,
        ))
        .load(conn)?;
    let ids: Vec<ConversationId> = conversation_rows.iter().map(|c| c.0).collect();
    // an export that left conversations out would look complete, so it is refused instead
    refuse_if_any_hidden(conn, me, &ids, "the export would be incomplete")?;
    let labels: Vec<(ConversationId, String)> = conversation_labels::table
        .filter(conversation_labels::conversation_id.eq_any(&ids))
        .order(conversation_labels::label)
        .select((
            conversation_labels::conversation_id,
            conversation_labels::label,
        ))
        .load(conn)?;
    let message_rows: Vec<(ConversationId, String, String, NaiveDateTime)> = messages::table
        .filter(messages::conversation_id.eq_any(&ids))
        .order(messages::id)
        .select((
            messages::conversation_id,
            messages::direction,
            messages::body,
            messages::created_at,
        ))
        .load(conn)?;
    let calls: Vec<(ChannelId, String, i32, Option<String>, NaiveDateTime)> = call_tasks::table
        .filter(call_tasks::company_id.eq(me.company_id))
        .filter(call_tasks::contact_id.eq(contact_id))
        .order(call_tasks::id)
        .select((
            call_tasks::channel_id,
            call_tasks::call_status,
            call_tasks::duration_seconds,
            call_tasks::caller_id,
            call_tasks::created_at,
        ))
        .load(conn)?;
    let reveals: Vec<(UserId, String, String, NaiveDateTime)> = contact_reveals::table
        .inner_join(users::table.on(users::id.eq(contact_reveals::user_id)))
        .filter(contact_reveals::company_id.eq(me.company_id))
        .filter(contact_reveals::contact_id.eq(contact_id))
        .order(contact_reveals::id)
        .select((
            contact_reveals::user_id,
            users::username,
            contact_reveals::reason,
            contact_reveals::created_at,
        ))
        .load(conn)?;
    let conversations_json: Vec<Value> = conversation_rows
        .iter()
        .map(|(id, channel, status, opened, closed)| {
            json!({
                "id": id.0,
                "channel": channel,
                "status": status,
                "opened_at": time(opened),
                "closed_at": closed.as_ref().map(time),
                "labels": labels.iter().filter(|(c, _)| c == id).map(|(_, l)| l).collect::<Vec<_>>(),
                "messages": message_rows
                    .iter()
                    .filter(|(c, ..)| c == id)
                    .map(|(_, direction, body, at)| json!({
                        "direction": direction,
                        "text": mask.text(body),
                        "at": time(at),
                    }))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    let document = json!({
        "contact": {
            "id": contact_id.0,
            "name": mask.identifier(&name),
            "phone": phone.as_deref().map(|p| mask.phone(p)),
            "email": email.as_deref().map(|e| mask.email(e)),
            "created_at": time(&created_at),
        },
        "conversations": conversations_json,
        "call_tasks": calls.iter().map(|(channel, status, seconds, caller, at)| json!({
            "channel_id": channel.0,
            "status": status,
            "duration_seconds": seconds,
            "caller_id": caller.as_deref().map(|c| mask.identifier(c)),
            "at": time(at),
        })).collect::<Vec<_>>(),
        "reveals": reveals.iter().map(|(user, username, reason, at)| json!({
            "user_id": user.0,
            "username": username,
            "reason": mask.text(reason),
            "at": time(at),
        })).collect::<Vec<_>>(),
        "masked": mask.is_masked(),
    });
    audit::Entry::new(me.company_id, &me.actor, "contact.export")
        .on("contact", contact_id, &format!("contact {contact_id}"))
        .saying(format!(
            "data-subject export of contact {contact_id} ({}): {} conversations, {} messages, {} calls",
            if mask.is_masked() { "masked" } else { "unmasked" },
            conversation_rows.len(),
            message_rows.len(),
            calls.len()
        ))
        .write(conn)?;
    Ok(document)
}

fn conversations_of(
    conn: &mut DbConnection,
    me: &Caller,
    contact_id: ContactId,
) -> Result<Vec<ConversationId>, AppError> {
    Ok(conversations::table
        .filter(conversations::company_id.eq(me.company_id))
        .filter(conversations::contact_id.eq(contact_id))
        .select(conversations::id)
        .load(conn)?)
}

/// What the erasure form must be given to go ahead: the contact's phone as a masked viewer
/// sees it (`+90 *** *** **67`), or, for a contact without one, `contact <id>`. 409 when one
/// of their conversations is outside what `me` may see.
pub fn erase_confirmation(
    conn: &mut DbConnection,
    me: &Caller,
    contact_id: ContactId,
) -> Result<String, AppError> {
    let phone: Option<String> = contacts::table
        .filter(contacts::company_id.eq(me.company_id))
        .filter(contacts::id.eq(contact_id))
        .select(contacts::phone)
        .first(conn)?;
    // the form names the customer (their masked number): not to someone who may not see
    // all of their conversations, who could not erase them anyway
    let ids = conversations_of(conn, me, contact_id)?;
    refuse_if_any_hidden(conn, me, &ids, "you may not erase their data")?;
    Ok(match phone {
        Some(phone) => crate::core::masking::mask_phone(&phone),
        None => format!("contact {contact_id}"),
    })
}

/// Erases a customer's personal data everywhere (GDPR/KVKK erasure), irreversibly: their
/// name, phone, e-mail and network id; the text of every message of their conversations and of
/// the reasons given to reveal them; their calls' caller id. Counts, times and statuses stay, so
/// reports keep working; the activity log (which names contacts by id only) is untouched and
/// still verifies. `confirm` must repeat [`erase_confirmation`] (422). 409 while one of their
/// conversations carries a label on legal hold, or is outside what `me` may see. Recorded.
pub fn erase(
    conn: &mut DbConnection,
    me: &Caller,
    contact_id: ContactId,
    confirm: &str,
) -> Result<(), AppError> {
    use crate::db::schema::labels;
    let expected = erase_confirmation(conn, me, contact_id)?;
    if confirm.trim() != expected {
        return Err(AppError::field(
            "confirm",
            format!("Type {expected} to confirm: erasure cannot be undone."),
        ));
    }
    // (erase_confirmation refused if any of them is hidden from `me`)
    let ids = conversations_of(conn, me, contact_id)?;
    let held: Option<String> = conversation_labels::table
        .inner_join(labels::table.on(labels::id.nullable().eq(conversation_labels::label_id)))
        .filter(conversation_labels::conversation_id.eq_any(&ids))
        .filter(labels::legal_hold.eq(true))
        .select(labels::name)
        .first(conn)
        .optional()?;
    if let Some(label) = held {
        return Err(AppError::Conflict(format!(
            "A conversation of this customer carries {label}, which is on legal hold: their data \
             stays until the hold is lifted (/labels)."
        )));
    }
    let erased = ERASED;
    let name = format!("Erased contact {contact_id}");
    diesel::update(
        contacts::table
            .filter(contacts::company_id.eq(me.company_id))
            .filter(contacts::id.eq(contact_id)),
    )
    .set((
        contacts::name.eq(&name),
        contacts::name_masked.eq(Some(&name)),
        contacts::phone.eq(None::<String>),
        contacts::phone_normalized.eq(None::<String>),
        contacts::email.eq(None::<String>),
    ))
    .execute(conn)?;
    diesel::update(conversations::table.filter(conversations::id.eq_any(&ids)))
        .set(conversations::external_contact_id.eq(None::<String>))
        .execute(conn)?;
    let messages_erased =
        diesel::update(messages::table.filter(messages::conversation_id.eq_any(&ids)))
            .set((
                messages::body.eq(erased),
                messages::body_masked.eq(Some(erased)),
            ))
            .execute(conn)?;
    diesel::update(
        call_tasks::table
            .filter(call_tasks::company_id.eq(me.company_id))
            .filter(call_tasks::contact_id.eq(contact_id)),
    )
    .set(call_tasks::caller_id.eq(None::<String>))
    .execute(conn)?;
    diesel::update(
        contact_reveals::table
            .filter(contact_reveals::company_id.eq(me.company_id))
            .filter(contact_reveals::contact_id.eq(contact_id)),
    )
    .set(contact_reveals::reason.eq(erased))
    .execute(conn)?;
    audit::Entry::new(me.company_id, &me.actor, "contact.erase")
        .on("contact", contact_id, &format!("contact {contact_id}"))
        .saying(format!(
            "personal data of contact {contact_id} erased: {} conversations, {messages_erased} messages",
            ids.len()
        ))
        .write(conn)
}
