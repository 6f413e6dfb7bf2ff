//! `switchboard seed`: a company the size of a large deployment, for sizing a machine and for
//! measuring pages. Conversations and messages arrive through the inbound hook's own path
//! (`inbound::receive`: routing to the least-loaded agent, contacts, masked copies, the search
//! index), so they are the rows a real company would have; activity records go through
//! `audit::record` (one valid hash chain) and sign-in attempts through `login_events::record`.

use crate::core::ids::{ChannelId, CompanyId};
use crate::core::secrets;
use crate::db::{DbConnection, write_transaction};
use crate::domain::users::NewUser;
use crate::domain::{
    Actor, Caller, audit, channels, companies, inbound, login_events, roles, users,
};
use crate::error::AppError;
use diesel::prelude::*;

/// How much to add.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub conversations: usize,
    /// Messages in all, the first of each conversation included.
    pub messages: usize,
    pub audit: usize,
    pub logins: usize,
}

/// The channels of a seeded company: one of each kind that carries text.
const KINDS: [(&str, &str); 5] = [
    ("whatsapp", "WhatsApp"),
    ("instagram", "Instagram"),
    ("messenger", "Messenger"),
    ("telegram", "Telegram"),
    ("sms", "SMS"),
];

/// Agents a new seeded company gets (the conversations are routed among them).
const AGENTS: usize = 20;

/// Rows written per transaction where they are not written one delivery at a time.
const BATCH: usize = 5_000;

/// The words seeded messages are made of (the search benchmark searches for them).
pub const WORDS: [&str; 16] = [
    "order", "delivery", "refund", "invoice", "tomorrow", "address", "thanks", "price", "warranty",
    "colour", "size", "exchange", "courier", "payment", "discount", "receipt",
];

/// The company `code` with its supervisor (`password`), agents and channels, created when
/// missing; then `scale` more conversations, messages, activity records and sign-in attempts.
/// `progress` hears a line now and then. Running it again adds as much again, with new
/// customers.
pub fn seed(
    conn: &mut DbConnection,
    code: &str,
    password: &str,
    scale: Scale,
    mut progress: impl FnMut(String),
) -> Result<CompanyId, AppError> {
    let actor = Actor {
        user_id: None,
        username: "seed".into(),
        ip: "local".into(),
    };
    let company = match companies::find_by_code(conn, code)? {
        // fake customers never land in a real company through a mistyped code
        Some(company) if company.name != seeded_name(code) => {
            return Err(AppError::Conflict(format!(
                "{code} was not made by seed; seed adds only to the companies it made"
            )));
        }
        Some(company) => company,
        None => {
            let company =
                write_transaction(conn, |conn| create_company(conn, code, password, &actor))?;
            progress(format!(
                "company {code} created: supervisor, {AGENTS} agents, 5 channels"
            ));
            company
        }
    };
    let hooks: Vec<(ChannelId, String)> = channels::list(conn, company.id)?
        .into_iter()
        .filter(|channel| channel.active && channel.kind != crate::core::status::ChannelKind::Voip)
        .map(|channel| {
            channels::webhook_token(conn, company.id, channel.id).map(|t| (channel.id, t))
        })
        .collect::<Result<_, _>>()?;
    if hooks.is_empty() {
        return Err(AppError::Conflict(format!(
            "{code} has no active text channel to seed"
        )));
    }
    // customers are numbered on from those already there, so running again adds new ones
    let first: i64 = crate::db::schema::contacts::table
        .filter(crate::db::schema::contacts::company_id.eq(company.id))
        .count()
        .get_result(conn)?;
    let conversations = scale.conversations.max(1);
    for n in 0..scale.messages.max(scale.conversations) {
        // the first `conversations` messages open a conversation each; the rest join them
        let customer = first as usize + n % conversations;
        let (channel_id, token) = &hooks[customer % hooks.len()];
        let body = serde_json::json!({
            "external_id": format!("seed-{first}-{n}"),
            "contact": {
                "name": format!("Customer {customer}"),
                // a Turkish mobile number of its own: 5 and nine digits
                "phone": format!("+90 5{:09}", customer),
            },
            "text": format!(
                "{} {} {}, call me back on +90 532 {:03} {:02} {:02}",
                WORDS[n % 16],
                WORDS[n / 16 % 16],
                WORDS[n / 256 % 16],
                n % 1000,
                n / 1000 % 100,
                n / 100_000 % 100
            ),
        });
        inbound::receive(conn, *channel_id, token, body.to_string().as_bytes())?.map_err(
            |refusal| AppError::internal(format!("a seeded delivery was refused: {refusal:?}")),
        )?;
        if (n + 1) % 10_000 == 0 {
            progress(format!("{} messages", n + 1));
        }
    }
    for start in (0..scale.audit).step_by(BATCH) {
        write_transaction(conn, |conn| {
            for n in start..(start + BATCH).min(scale.audit) {
                audit::Entry::new(company.id, &actor, "seed.record")
                    .on("company", company.id, code)
                    .saying(format!("seeded activity record {n} ({})", WORDS[n % 16]))
                    .write(conn)?;
            }
            Ok(())
        })?;
        progress(format!(
            "{} activity records",
            (start + BATCH).min(scale.audit)
        ));
    }
    for start in (0..scale.logins).step_by(BATCH) {
        write_transaction(conn, |conn| {
            for n in start..(start + BATCH).min(scale.logins) {
                let username = format!("agent{:02}", n % AGENTS + 1);
                let success = n % 5 != 0;
                login_events::record(
                    conn,
                    &login_events::Attempt {
                        company_id: Some(company.id),
                        company_code: code,
                        username: &username,
                        user_id: None,
                        success,
                        reason: if success { "ok" } else { "bad_password" },
                        ip: &format!("10.{}.{}.{}", n / 65_536 % 256, n / 256 % 256, n % 256),
                        user_agent: "Mozilla/5.0 (seeded)",
                        location: None,
                    },
                )?;
            }
            Ok(())
        })?;
        progress(format!(
            "{} sign-in attempts",
            (start + BATCH).min(scale.logins)
        ));
    }
    Ok(company.id)
}

/// The name `seed` gives the companies it makes, by which it knows them again.
fn seeded_name(code: &str) -> String {
    format!("{code} (seeded)")
}

fn create_company(
    conn: &mut DbConnection,
    code: &str,
    password: &str,
    actor: &Actor,
) -> Result<companies::Company, AppError> {
    let company = companies::create(conn, code, &seeded_name(code), actor)?;
    // measuring wants full inboxes: the seeded customers are spread over every agent
    diesel::update(crate::db::schema::companies::table.find(company.id))
        .set(
            crate::db::schema::companies::default_capacity
                .eq(crate::domain::assignments::MAX_CAPACITY),
        )
        .execute(conn)?;
    let system = Caller::system(company.id, actor.clone());
    let mut channel_ids = Vec::new();
    for (kind, name) in KINDS {
        channel_ids.push(Some(channels::create(conn, &system, name, kind)?));
    }
    let policy = company.password_policy();
    let supervisor = roles::find_by_name(conn, company.id, "Supervisor")?.id;
    let agent = roles::find_by_name(conn, company.id, "Agent")?.id;
    let add = |conn: &mut DbConnection, username: &str, role, password: &str, channels| {
        users::create(
            conn,
            &NewUser {
                company_id: company.id,
                username,
                display_name: username,
                email: None,
                phone: None,
                role_id: Some(role),
                password,
                must_change_password: false,
                channel_ids: channels,
                granted_by: None,
            },
            &policy,
            &company.code,
            actor,
        )
        .map(|_| ())
    };
    add(conn, "supervisor", supervisor, password, &[])?;
    for n in 1..=AGENTS {
        // nobody signs in as a seeded agent: a password no one knows
        let unknown = format!("{}-!9", secrets::random_token());
        add(conn, &format!("agent{n:02}"), agent, &unknown, &channel_ids)?;
    }
    Ok(company)
}
