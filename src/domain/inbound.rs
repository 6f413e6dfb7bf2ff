//! Inbound channel traffic (`POST /hooks/channels/{id}/messages`): a message joins the
//! contact's open conversation on the channel, or opens a new one that `domain::routing`
//! assigns (or queues). VOIP calls become call tasks, assigned the same way. Deliveries are
//! idempotent per channel on `external_id`, by a unique constraint, so concurrent retries
//! store one message.

use crate::core::ids::{CallTaskId, ChannelId, CompanyId, ConversationId, MessageId};
use crate::core::status::{ChannelKind, ConversationStatus, Direction};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Deserialize;

use crate::core::masking::mask_identifier;
use crate::core::secrets::constant_time_eq;
use crate::db::schema::{call_tasks, channels, contacts, conversations, messages};
use crate::db::{DbConnection, write_transaction_outside_sessions};
use crate::domain::conversations::NewMessage;
use crate::domain::now;
use crate::domain::routing::{Handoff, Router};
use crate::error::AppError;

#[derive(Debug, Deserialize)]
pub struct Payload {
    pub external_id: String,
    pub contact: ContactPayload,
    pub text: Option<String>,
    pub call: Option<CallPayload>,
}

#[derive(Debug, Deserialize)]
pub struct ContactPayload {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CallPayload {
    pub status: String,
    #[serde(default)]
    pub duration_seconds: i32,
}

/// What the hook answers.
/// What a delivery stored; serialised as the hook's answer (the ids, never `created`).
#[derive(Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Message {
        conversation_id: ConversationId,
        message_id: MessageId,
        #[serde(skip)]
        created: bool,
    },
    Call {
        call_task_id: CallTaskId,
        #[serde(skip)]
        created: bool,
    },
}

impl Outcome {
    /// False when the delivery repeated one already stored.
    pub fn created(&self) -> bool {
        match self {
            Self::Message { created, .. } | Self::Call { created, .. } => *created,
        }
    }
}

/// Why a delivery is refused, mapped to 400 / 401 by the handler.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 401: unknown or disabled channel, or a wrong token (never says which).
    Unauthorized,
    /// 400: the body is not what the contract describes.
    Malformed(String),
}

/// Digits with a leading '+', for matching contacts by phone.
pub fn normalize_phone(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    (6..=20)
        .contains(&digits.len())
        .then(|| format!("+{digits}"))
}

struct Checked {
    external_id: String,
    name: String,
    phone: Option<String>,
    phone_normalized: Option<String>,
    email: Option<String>,
    kind: Kind,
}

enum Kind {
    Text(String),
    Call { missed: bool, duration: i32 },
}

fn check(payload: Payload, voip: bool) -> Result<Checked, Refusal> {
    let bad = |m: &str| Refusal::Malformed(m.to_string());
    // a NUL can be stored by neither database's text: malformed, whichever field holds it
    let texts = [
        Some(&payload.external_id),
        payload.contact.name.as_ref(),
        payload.contact.phone.as_ref(),
        payload.contact.email.as_ref(),
        payload.text.as_ref(),
    ];
    if !texts
        .into_iter()
        .flatten()
        .all(|text| crate::core::text::storable(text))
    {
        return Err(bad("text fields cannot hold a NUL character"));
    }
    let external_id = payload.external_id.trim().to_string();
    if external_id.is_empty() || external_id.len() > 200 {
        return Err(bad("external_id must be 1 to 200 characters"));
    }
    let phone = payload
        .contact
        .phone
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    let phone_normalized = match &phone {
        Some(p) => {
            Some(normalize_phone(p).ok_or_else(|| bad("contact.phone is not a phone number"))?)
        }
        None => None,
    };
    let email = match payload
        .contact
        .email
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
    {
        Some(e) => Some(
            crate::domain::validate::email(&e)
                .ok()
                .flatten()
                .ok_or_else(|| bad("contact.email is not an email address"))?,
        ),
        None => None,
    };
    if phone.is_none() && email.is_none() {
        return Err(bad("contact needs a phone or an email"));
    }
    let name = payload
        .contact
        .name
        .map(|n| {
            n.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "Unknown contact".into());
    let kind = if voip {
        let call = payload
            .call
            .ok_or_else(|| bad("a VOIP channel sends call"))?;
        let missed = match call.status.as_str() {
            "missed" => true,
            "answered" => false,
            _ => return Err(bad("call.status is missed or answered")),
        };
        if !(0..=86_400).contains(&call.duration_seconds) {
            return Err(bad("call.duration_seconds is 0 to 86400"));
        }
        Kind::Call {
            missed,
            duration: call.duration_seconds,
        }
    } else {
        let text = payload
            .text
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("text is required"))?;
        if text.chars().count() > 10_000 {
            return Err(bad("text is at most 10000 characters"));
        }
        Kind::Text(text)
    };
    Ok(Checked {
        external_id,
        name,
        phone,
        phone_normalized,
        email,
        kind,
    })
}

fn is_duplicate(err: &AppError) -> bool {
    matches!(err, AppError::Conflict(message) if message == DUPLICATE)
}

const DUPLICATE: &str = "duplicate delivery";

fn duplicate_or(err: DieselError) -> AppError {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            AppError::Conflict(DUPLICATE.into())
        }
        other => other.into(),
    }
}

/// Authenticates, then reads and stores one delivery. The body is parsed only after the token
/// matched: an unknown sender learns nothing about the format.
pub fn receive(
    conn: &mut DbConnection,
    channel_id: ChannelId,
    bearer: &str,
    body: &[u8],
) -> Result<Result<Outcome, Refusal>, AppError> {
    let channel: Option<(CompanyId, ChannelKind, String, bool)> = channels::table
        .find(channel_id)
        .select((
            channels::company_id,
            channels::kind,
            channels::webhook_token,
            channels::active,
        ))
        .first(conn)
        .optional()?;
    // compare even for an unknown channel, so timing says nothing about which ids exist
    let (company_id, kind, token, active) =
        channel.unwrap_or((CompanyId(0), ChannelKind::Sms, "x".repeat(43), false));
    let token_ok = constant_time_eq(&token, bearer);
    if !token_ok || !active || company_id == CompanyId(0) {
        return Ok(Err(Refusal::Unauthorized));
    }
    let payload: Payload = match serde_json::from_slice(body) {
        Ok(payload) => payload,
        Err(err) if err.is_data() => {
            return Ok(Err(Refusal::Malformed(format!(
                "missing or invalid field: {err}"
            ))));
        }
        Err(_) => return Ok(Err(Refusal::Malformed("malformed JSON".into()))),
    };
    let checked = match check(payload, kind == ChannelKind::Voip) {
        Ok(checked) => checked,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if let Some(outcome) = existing(conn, channel_id, &checked)? {
        return Ok(Ok(outcome));
    }
    // a message changes no session, user, role or company row: the session cache stays
    let stored = write_transaction_outside_sessions(conn, |conn| {
        store(conn, company_id, channel_id, &checked)
    });
    match stored {
        Ok(outcome) => Ok(Ok(outcome)),
        // a concurrent retry stored it first: answer with what it stored
        Err(err) if is_duplicate(&err) => existing(conn, channel_id, &checked)?
            .map(Ok)
            .ok_or_else(|| AppError::internal("duplicate delivery not found")),
        Err(other) => Err(other),
    }
}

fn existing(
    conn: &mut DbConnection,
    channel_id: ChannelId,
    checked: &Checked,
) -> Result<Option<Outcome>, AppError> {
    match checked.kind {
        Kind::Text(_) => Ok(messages::table
            .filter(messages::channel_id.eq(channel_id))
            .filter(messages::external_id.eq(&checked.external_id))
            .select((messages::conversation_id, messages::id))
            .first::<(ConversationId, MessageId)>(conn)
            .optional()?
            .map(|(conversation_id, message_id)| Outcome::Message {
                conversation_id,
                message_id,
                created: false,
            })),
        Kind::Call { .. } => Ok(call_tasks::table
            .filter(call_tasks::channel_id.eq(channel_id))
            .filter(call_tasks::external_id.eq(&checked.external_id))
            .select(call_tasks::id)
            .first::<CallTaskId>(conn)
            .optional()?
            .map(|call_task_id| Outcome::Call {
                call_task_id,
                created: false,
            })),
    }
}

/// The company's contact with this phone or email, or a new one.
fn contact_for(
    conn: &mut DbConnection,
    company_id: CompanyId,
    checked: &Checked,
    at: NaiveDateTime,
) -> Result<i64, AppError> {
    let mut found = None;
    if let Some(phone) = &checked.phone_normalized {
        found = contacts::table
            .filter(contacts::company_id.eq(company_id))
            .filter(contacts::phone_normalized.eq(phone))
            .order(contacts::id)
            .select(contacts::id)
            .first::<i64>(conn)
            .optional()?;
    }
    if found.is_none()
        && let Some(email) = &checked.email
    {
        found = contacts::table
            .filter(contacts::company_id.eq(company_id))
            .filter(contacts::email.eq(email))
            .order(contacts::id)
            .select(contacts::id)
            .first::<i64>(conn)
            .optional()?;
    }
    if let Some(id) = found {
        return Ok(id);
    }
    Ok(diesel::insert_into(contacts::table)
        .values((
            contacts::company_id.eq(company_id),
            contacts::name.eq(&checked.name),
            contacts::name_masked.eq(Some(mask_identifier(&checked.name))),
            contacts::phone.eq(&checked.phone),
            contacts::phone_normalized.eq(&checked.phone_normalized),
            contacts::email.eq(&checked.email),
            contacts::created_at.eq(at),
        ))
        .returning(contacts::id)
        .get_result(conn)?)
}

fn store(
    conn: &mut DbConnection,
    company_id: CompanyId,
    channel_id: ChannelId,
    checked: &Checked,
) -> Result<Outcome, AppError> {
    let at = now();
    // simultaneous first messages from one new contact: one contact, one open conversation
    let who = checked
        .phone_normalized
        .as_deref()
        .or(checked.email.as_deref())
        .unwrap_or(&checked.external_id);
    crate::db::serialize(
        conn,
        crate::db::LockSpace::Contact,
        &format!("{company_id}:{who}"),
    )?;
    let contact_id = contact_for(conn, company_id, checked, at)?;
    let network_id = checked
        .phone_normalized
        .clone()
        .or_else(|| checked.email.clone());
    match &checked.kind {
        Kind::Call { missed, duration } => {
            // a call task is not a conversation: it counts against nobody's capacity
            let assignee = Router::load(conn, company_id, Some(channel_id))?
                .pick(channel_id, at, &[])
                .user_id;
            let id: CallTaskId = diesel::insert_into(call_tasks::table)
                .values((
                    call_tasks::company_id.eq(company_id),
                    call_tasks::channel_id.eq(channel_id),
                    call_tasks::contact_id.eq(contact_id),
                    call_tasks::assignee_id.eq(assignee),
                    call_tasks::call_status.eq(if *missed { "missed" } else { "answered" }),
                    call_tasks::duration_seconds.eq(duration),
                    call_tasks::caller_id.eq(&network_id),
                    call_tasks::external_id.eq(Some(&checked.external_id)),
                    call_tasks::created_at.eq(at),
                ))
                .returning(call_tasks::id)
                .get_result(conn)
                .map_err(duplicate_or)?;
            Ok(Outcome::Call {
                call_task_id: id,
                created: true,
            })
        }
        Kind::Text(text) => {
            let open: Option<ConversationId> = conversations::table
                .filter(conversations::contact_id.eq(contact_id))
                .filter(conversations::channel_id.eq(channel_id))
                .filter(conversations::status.eq(ConversationStatus::Open))
                .order(conversations::id.desc())
                .select(conversations::id)
                .first(conn)
                .optional()?;
            let conversation_id = match open {
                Some(id) => id,
                None => {
                    // a new conversation carries no label yet: no restriction applies
                    let choice =
                        Router::load(conn, company_id, Some(channel_id))?.pick(channel_id, at, &[]);
                    let assignee = choice.user_id;
                    let id: ConversationId = diesel::insert_into(conversations::table)
                        .values((
                            conversations::company_id.eq(company_id),
                            conversations::channel_id.eq(channel_id),
                            conversations::contact_id.eq(contact_id),
                            conversations::assignee_id.eq(assignee),
                            conversations::status.eq(ConversationStatus::Open),
                            conversations::external_contact_id.eq(&network_id),
                            conversations::last_message_at.eq(at),
                            conversations::created_at.eq(at),
                        ))
                        .returning(conversations::id)
                        .get_result(conn)?;
                    Handoff {
                        conversation_id: id,
                        from: None,
                        to: assignee,
                        by: None,
                        reason: Some(&choice.reason),
                        at,
                    }
                    .record(conn)?;
                    id
                }
            };
            let message_id: MessageId = NewMessage {
                company_id,
                conversation_id,
                channel_id,
                direction: Direction::Inbound,
                author_id: None,
                body: text,
                external_id: Some(&checked.external_id),
                delivery: "received",
                created_at: at,
            }
            .insert(conn)
            .map_err(duplicate_or)?;
            // the oldest unanswered message sets the waiting time
            diesel::update(conversations::table.find(conversation_id))
                .set(conversations::last_message_at.eq(at))
                .execute(conn)?;
            diesel::update(
                conversations::table
                    .find(conversation_id)
                    .filter(conversations::awaiting_reply_since.is_null()),
            )
            .set(conversations::awaiting_reply_since.eq(Some(at)))
            .execute(conn)?;
            // "STOP" opts the customer out of broadcasts (never of conversations)
            if text.trim().eq_ignore_ascii_case("stop") {
                diesel::update(crate::db::schema::contacts::table.find(contact_id))
                    .set(crate::db::schema::contacts::opted_out.eq(true))
                    .execute(conn)?;
            }
            Ok(Outcome::Message {
                conversation_id,
                message_id,
                created: true,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(external_id: &str, phone: Option<&str>, email: Option<&str>) -> Payload {
        Payload {
            external_id: external_id.into(),
            contact: ContactPayload {
                name: Some("  Deniz\u{7} Yılmaz  ".into()),
                phone: phone.map(Into::into),
                email: email.map(Into::into),
            },
            text: Some("  hello  ".into()),
            call: None,
        }
    }

    fn call(status: &str, duration_seconds: i32) -> Payload {
        Payload {
            call: Some(CallPayload {
                status: status.into(),
                duration_seconds,
            }),
            text: None,
            ..message("call-1", Some("+90 532 000 11 67"), None)
        }
    }

    fn refusal(result: Result<Checked, Refusal>) -> String {
        match result {
            Ok(_) => "accepted".into(),
            Err(Refusal::Malformed(why)) => why,
            Err(Refusal::Unauthorized) => "unauthorized".into(),
        }
    }

    #[test]
    fn an_outcome_says_whether_it_stored_something_new() {
        // the hook answers 201 for a new delivery, 200 for a repeated one
        for created in [true, false] {
            let message = Outcome::Message {
                conversation_id: ConversationId(1),
                message_id: MessageId(2),
                created,
            };
            let call = Outcome::Call {
                call_task_id: CallTaskId(3),
                created,
            };
            assert_eq!((message.created(), call.created()), (created, created));
        }
    }

    #[test]
    fn phones_are_six_to_twenty_digits_with_a_plus() {
        assert_eq!(
            normalize_phone("+90 (532) 000-11-67").as_deref(),
            Some("+905320001167")
        );
        assert_eq!(normalize_phone("12345"), None);
        assert_eq!(normalize_phone("123456").as_deref(), Some("+123456"));
        assert_eq!(
            normalize_phone(&"1".repeat(20)),
            Some(format!("+{}", "1".repeat(20)))
        );
        assert_eq!(normalize_phone(&"1".repeat(21)), None);
    }

    #[test]
    fn a_message_is_trimmed_and_its_contact_read() {
        let checked = check(
            message(
                " m-1 ",
                Some(" +90 532 000 11 67 "),
                Some(" Deniz@Example.COM "),
            ),
            false,
        )
        .map_err(|refused| format!("{refused:?}"))
        .expect("a valid message");
        assert_eq!(checked.external_id, "m-1");
        assert_eq!(checked.name, "Deniz Yılmaz");
        assert_eq!(checked.phone.as_deref(), Some("+90 532 000 11 67"));
        assert_eq!(checked.phone_normalized.as_deref(), Some("+905320001167"));
        assert_eq!(checked.email.as_deref(), Some("deniz@example.com"));
        assert!(matches!(checked.kind, Kind::Text(ref text) if text == "hello"));
    }

    #[test]
    fn only_a_unique_violation_is_a_duplicate_delivery() {
        let unique = DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new(String::from(
                "UNIQUE constraint failed: messages.external_id",
            )),
        );
        assert!(is_duplicate(&duplicate_or(unique)));
        let other = DieselError::DatabaseError(
            DatabaseErrorKind::ForeignKeyViolation,
            Box::new(String::from("FOREIGN KEY constraint failed")),
        );
        assert!(!is_duplicate(&duplicate_or(other)));
        assert!(matches!(
            duplicate_or(DieselError::NotFound),
            AppError::NotFound
        ));
        // another conflict is not a duplicate: it is answered as what it is
        assert!(!is_duplicate(&AppError::Conflict(
            "That already exists.".into()
        )));
        assert!(!is_duplicate(&AppError::NotFound));
    }

    #[test]
    fn a_contact_without_a_name_is_unknown_and_a_long_name_is_cut() {
        let mut payload = message("m-1", Some("+905320001167"), None);
        payload.contact.name = Some("   ".into());
        let checked = check(payload, false).map_err(|r| format!("{r:?}"));
        assert_eq!(checked.expect("valid").name, "Unknown contact");
        let mut payload = message("m-1", Some("+905320001167"), None);
        payload.contact.name = Some("n".repeat(150));
        let checked = check(payload, false).map_err(|r| format!("{r:?}"));
        assert_eq!(checked.expect("valid").name, "n".repeat(100));
    }

    #[test]
    fn malformed_messages_are_refused_with_the_reason() {
        let phone = Some("+905320001167");
        assert_eq!(
            refusal(check(message("", phone, None), false)),
            "external_id must be 1 to 200 characters"
        );
        assert_eq!(
            refusal(check(message(&"x".repeat(200), phone, None), false)),
            "accepted"
        );
        assert_eq!(
            refusal(check(message(&"x".repeat(201), phone, None), false)),
            "external_id must be 1 to 200 characters"
        );
        assert_eq!(
            refusal(check(message("m-1", Some("12-34"), None), false)),
            "contact.phone is not a phone number"
        );
        assert_eq!(
            refusal(check(message("m-1", None, Some("not an address")), false)),
            "contact.email is not an email address"
        );
        assert_eq!(
            refusal(check(message("m-1", Some("  "), Some(" ")), false)),
            "contact needs a phone or an email"
        );
        assert_eq!(
            refusal(check(message("m-1", None, Some("a@example.com")), false)),
            "accepted"
        );
        assert_eq!(
            refusal(check(message("m\0", phone, None), false)),
            "text fields cannot hold a NUL character"
        );

        let mut empty = message("m-1", phone, None);
        empty.text = Some("   ".into());
        assert_eq!(refusal(check(empty, false)), "text is required");
        let mut longest = message("m-1", phone, None);
        longest.text = Some("é".repeat(10_000));
        assert_eq!(refusal(check(longest, false)), "accepted");
        let mut too_long = message("m-1", phone, None);
        too_long.text = Some("é".repeat(10_001));
        assert_eq!(
            refusal(check(too_long, false)),
            "text is at most 10000 characters"
        );
    }

    #[test]
    fn calls_are_missed_or_answered_within_a_day() {
        for (status, duration, missed) in [("missed", 0, true), ("answered", 86_400, false)] {
            let checked = check(call(status, duration), true).map_err(|r| format!("{r:?}"));
            assert!(matches!(
                checked.expect("a valid call").kind,
                Kind::Call { missed: m, duration: d } if m == missed && d == duration
            ));
        }
        assert_eq!(
            refusal(check(call("rang", 5), true)),
            "call.status is missed or answered"
        );
        assert_eq!(
            refusal(check(call("answered", -1), true)),
            "call.duration_seconds is 0 to 86400"
        );
        assert_eq!(
            refusal(check(call("answered", 86_401), true)),
            "call.duration_seconds is 0 to 86400"
        );
        // a VOIP channel sends calls, not text
        assert_eq!(
            refusal(check(message("m-1", Some("+905320001167"), None), true)),
            "a VOIP channel sends call"
        );
    }
}
