//! The demo workspace of CONTRACT.md: companies DEMO and ACME, their people, channels,
//! contacts, conversations and call tasks. Seeding is idempotent: a company that exists is
//! left as it is.

use crate::core::ids::{ChannelId, CompanyId, ContactId, ConversationId, RoleId, UserId};
use crate::core::status::Direction;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::core::permissions::{Permission, PermissionSet};
use crate::db::schema::{call_tasks, contacts, conversation_assignments, conversations};
use crate::db::{DbConnection, write_transaction};
use crate::domain::companies::Company;
use crate::domain::conversations::NewMessage;
use crate::domain::users::NewUser;
use crate::domain::{Actor, Caller, channels, companies, now, roles, users};
use crate::error::AppError;

pub const PASSWORD: &str = "Harbor-Lantern-42!";

/// (company, username, role) of each demo login, for printing.
pub const DEMO_LOGINS: [(&str, &str, &str); 9] = [
    ("DEMO", "sofia", "Supervisor"),
    ("DEMO", "sam", "Supervisor"),
    ("DEMO", "alice", "Agent"),
    ("DEMO", "bob", "Agent"),
    ("DEMO", "dana", "Auditor (activity and login history)"),
    (
        "DEMO",
        "tina",
        "Team Lead of Support (manages her team only)",
    ),
    ("DEMO", "carl", "Agent, deactivated: cannot sign in"),
    ("ACME", "olga", "Supervisor"),
    ("ACME", "alice", "Agent (a different alice)"),
];

const FIRST_NAMES: [&str; 20] = [
    "Deniz",
    "Mariana",
    "Kenji",
    "Amara",
    "Lukas",
    "Priya",
    "Mateo",
    "Ingrid",
    "Tariq",
    "Sofie",
    "Chen",
    "Olusegun",
    "Valentina",
    "Hamid",
    "Freya",
    "Rafael",
    "Yuki",
    "Leila",
    "Bruno",
    "Nadia",
];
const LAST_NAMES: [&str; 4] = ["Kaya", "Silva", "Novak", "Haddad"];
const COUNTRY_PREFIXES: [&str; 5] = ["+90 532", "+44 7700", "+49 151", "+1 415", "+34 612"];
const OPENERS: [&str; 6] = [
    "Hello, is my order on its way?",
    "Hi! Do you ship to Izmir?",
    "I was charged twice for the same order.",
    "Can I change the delivery address?",
    "What are your opening hours on Saturday?",
    "The parcel arrived damaged, what should I do?",
];
const REPLIES: [&str; 4] = [
    "Thanks for writing! Let me check that for you.",
    "Sure, could you send me your order number?",
    "I am sorry about that, we will sort it out today.",
    "Yes, we do. Delivery takes two to three days.",
];

/// Seeds whatever part of the demo workspace is missing. Returns true when anything was added.
pub fn seed(conn: &mut DbConnection) -> Result<bool, AppError> {
    let mut added = false;
    if companies::find_by_code(conn, "DEMO")?.is_none() {
        write_transaction(conn, seed_demo)?;
        added = true;
    }
    if companies::find_by_code(conn, "ACME")?.is_none() {
        write_transaction(conn, seed_acme)?;
        added = true;
    }
    // what later features add to DEMO, each once: a database seeded before them gains them too
    added |= write_transaction(conn, seed_teams)?;
    added |= write_transaction(conn, seed_restricted_label)?;
    added |= write_transaction(conn, seed_templates)?;
    Ok(added)
}

/// A demo user as the caller of domain functions (what they would do signed in).
fn as_user(conn: &mut DbConnection, company: &Company, username: &str) -> Result<Caller, AppError> {
    let user = users::find_by_username(conn, company.id, username)?.ok_or(AppError::NotFound)?;
    let permissions = roles::permissions_of(conn, user.role_id)?;
    Ok(Caller {
        company_id: company.id,
        viewer: crate::domain::Viewer::new(
            user.id,
            company.id,
            permissions,
            crate::core::masking::PhoneRegion::from_stored(&company.phone_region),
        ),
        actor: Actor {
            user_id: Some(user.id),
            username: user.username,
            ip: "local".into(),
        },
    })
}

/// Two message templates by Sofia: `welcome`, approved by Sam (broadcasts may send it), and
/// `order_update`, waiting for approval (the demo's pending approval). Nothing when DEMO has
/// templates already (or does not exist).
fn seed_templates(conn: &mut DbConnection) -> Result<bool, AppError> {
    use crate::domain::templates::{self, Draft};
    let Some(company) = companies::find_by_code(conn, "DEMO")? else {
        return Ok(false);
    };
    if !templates::list(conn, company.id)?.is_empty() {
        return Ok(false);
    }
    let (sofia, sam) = (
        as_user(conn, &company, "sofia")?,
        as_user(conn, &company, "sam")?,
    );
    let welcome = templates::create(
        conn,
        &sofia,
        &Draft {
            name: "welcome".into(),
            language: "en".into(),
            category: "marketing".into(),
            body: "Hello from Demo Trading Co.! This week every order ships free. Reply STOP to \
                   receive no more offers."
                .into(),
        },
    )?;
    templates::submit(conn, &sofia, welcome)?;
    templates::decide(conn, &sam, welcome, true, "")?;
    let order_update = templates::create(
        conn,
        &sofia,
        &Draft {
            name: "order_update".into(),
            language: "en".into(),
            category: "utility".into(),
            body: "Hello {{1}}, your order {{2}} is on its way.".into(),
        },
    )?;
    templates::submit(conn, &sofia, order_update)?;
    Ok(true)
}

/// The label VIP, restricted to Supervisors, on Carl's two Messenger conversations (the open
/// one waits for a supervisor to hand it over). Nothing when DEMO has it already (or does not
/// exist).
fn seed_restricted_label(conn: &mut DbConnection) -> Result<bool, AppError> {
    use crate::domain::labels;
    let Some(company) = companies::find_by_code(conn, "DEMO")? else {
        return Ok(false);
    };
    if labels::find(conn, company.id, "VIP")?.is_some() {
        return Ok(false);
    }
    let system = Caller::system(
        company.id,
        Actor {
            user_id: None,
            username: "demo".into(),
            ip: "local".into(),
        },
    );
    let Some(carl) = users::find_by_username(conn, company.id, "carl")? else {
        return Ok(false);
    };
    let unassigned: Vec<ConversationId> = conversations::table
        .filter(conversations::company_id.eq(company.id))
        .filter(conversations::assignee_id.eq(carl.id))
        .order(conversations::id)
        .limit(2)
        .select(conversations::id)
        .load(conn)?;
    // labelled first: once restricted, the label hides them from the seed as from anyone
    for id in unassigned {
        crate::domain::conversations::set_label(conn, &system, id, "VIP", true)?;
    }
    let supervisor = roles::find_by_name(conn, company.id, "Supervisor")?.id;
    labels::restrict(conn, &system, "VIP", &[Some(supervisor)], false)?;
    Ok(true)
}

/// Teams Sales and Support, and Tina, who leads Support with a role limited to her teams.
/// Nothing when DEMO has teams already (or does not exist).
fn seed_teams(conn: &mut DbConnection) -> Result<bool, AppError> {
    use crate::domain::teams::{self, Change};
    let Some(company) = companies::find_by_code(conn, "DEMO")? else {
        return Ok(false);
    };
    if !teams::list(conn, company.id)?.is_empty() {
        return Ok(false);
    }
    let actor = Actor {
        user_id: None,
        username: "demo".into(),
        ip: "local".into(),
    };
    let system = Caller::system(company.id, actor.clone());
    // what an earlier, interrupted seed left is taken as it is
    let lead_role = match roles::find_by_name(conn, company.id, "Team Lead") {
        Ok(role) => role.id,
        Err(AppError::NotFound) => roles::create(
            conn,
            company.id,
            "Team Lead",
            None,
            [
                Permission::ConversationsViewTeam,
                Permission::ConversationsViewAssigned,
                Permission::ConversationsReply,
                Permission::ConversationsTransfer,
                Permission::ConversationsClose,
                Permission::ContactsReveal,
                Permission::UsersView,
                Permission::UsersManage,
                Permission::ChannelsAssign,
                Permission::ReportsView,
            ]
            .into_iter()
            .collect::<PermissionSet>()
            .with_teams_only(true),
        )?,
        Err(other) => return Err(other),
    };
    let tina = match users::find_by_username(conn, company.id, "tina")? {
        Some(user) => user.id,
        None => Seeder {
            company_id: company.id,
            company_code: "DEMO",
            actor,
            at: now(),
            contact_counter: 0,
        }
        .user(conn, "tina", "Tina Marsh", lead_role)?,
    };
    let user = |conn: &mut DbConnection, name: &str| {
        users::find_by_username(conn, company.id, name)?
            .map(|u| Some(u.id))
            .ok_or(AppError::NotFound)
    };
    let channel = |conn: &mut DbConnection, name: &str| {
        channels::list(conn, company.id)?
            .into_iter()
            .find(|c| c.name == name)
            .map(|c| Some(c.id))
            .ok_or(AppError::NotFound)
    };
    let sales = teams::create(conn, &system, "Sales")?;
    let change = Change {
        name: "Sales".into(),
        member_ids: vec![user(conn, "alice")?, user(conn, "bob")?],
        lead_ids: Vec::new(),
        channel_ids: vec![
            channel(conn, "WhatsApp Sales")?,
            channel(conn, "Instagram")?,
        ],
    };
    teams::update(conn, &system, sales, &change)?;
    let support = teams::create(conn, &system, "Support")?;
    let change = Change {
        name: "Support".into(),
        member_ids: vec![user(conn, "bob")?],
        lead_ids: vec![Some(tina)],
        channel_ids: vec![
            channel(conn, "Telegram")?,
            channel(conn, "SMS")?,
            channel(conn, "Call Center")?,
        ],
    };
    teams::update(conn, &system, support, &change)?;
    Ok(true)
}

struct Seeder<'a> {
    company_id: CompanyId,
    company_code: &'a str,
    actor: Actor,
    at: NaiveDateTime,
    contact_counter: usize,
}

impl Seeder<'_> {
    fn user(
        &self,
        conn: &mut DbConnection,
        username: &str,
        display_name: &str,
        role_id: RoleId,
    ) -> Result<UserId, AppError> {
        let company = companies::get(conn, self.company_id)?;
        let user = users::create(
            conn,
            &NewUser {
                company_id: self.company_id,
                username,
                display_name,
                email: Some(&format!(
                    "{username}@{}.example",
                    self.company_code.to_lowercase()
                )),
                phone: None,
                role_id: Some(role_id),
                password: PASSWORD,
                must_change_password: false,
                channel_ids: &[],
                granted_by: None,
            },
            &company.password_policy(),
            self.company_code,
            &self.actor,
        )?;
        Ok(user.id)
    }

    fn contact(&mut self, conn: &mut DbConnection) -> Result<(ContactId, String), AppError> {
        let n = self.contact_counter;
        self.contact_counter += 1;
        let name = format!(
            "{} {}",
            FIRST_NAMES[n % FIRST_NAMES.len()],
            LAST_NAMES[(n / FIRST_NAMES.len()) % LAST_NAMES.len()]
        );
        let prefix = COUNTRY_PREFIXES[n % COUNTRY_PREFIXES.len()];
        let phone = format!(
            "{prefix} {:03} {:04}",
            100 + (n * 37) % 900,
            1000 + (n * 7919) % 9000
        );
        let normalized: String = std::iter::once('+')
            .chain(phone.chars().filter(char::is_ascii_digit))
            .collect();
        // most contacts have an email; every fifth does not
        let email = (n % 5 != 4).then(|| {
            format!(
                "{}.{}@mail{}.example.com",
                FIRST_NAMES[n % FIRST_NAMES.len()].to_lowercase(),
                LAST_NAMES[(n / FIRST_NAMES.len()) % LAST_NAMES.len()].to_lowercase(),
                n
            )
        });
        let id: ContactId = diesel::insert_into(contacts::table)
            .values((
                contacts::company_id.eq(self.company_id),
                contacts::name.eq(&name),
                contacts::name_masked.eq(Some(crate::core::masking::mask_identifier(&name))),
                contacts::phone.eq(Some(&phone)),
                contacts::phone_normalized.eq(Some(&normalized)),
                contacts::email.eq(email),
                contacts::created_at.eq(self.at - Duration::days(30)),
            ))
            .returning(contacts::id)
            .get_result(conn)?;
        Ok((id, normalized))
    }

    /// A conversation with an inbound opener and, for every other one, a reply.
    fn conversation(
        &mut self,
        conn: &mut DbConnection,
        channel: (ChannelId, &str),
        assignee: Option<UserId>,
        status: &str,
        age_minutes: i64,
    ) -> Result<(), AppError> {
        let (contact_id, normalized_phone) = self.contact(conn)?;
        let n = self.contact_counter;
        let (channel_id, kind) = channel;
        let external = match kind {
            "whatsapp" => format!("whatsapp:{normalized_phone}"),
            "sms" => format!("sms:{normalized_phone}"),
            "telegram" => format!("tg:user{n}"),
            "instagram" => format!("ig:shopper_{n}"),
            _ => format!("fb:psid{}", 4_000_000 + n),
        };
        let last = self.at - Duration::minutes(age_minutes);
        let id: ConversationId = diesel::insert_into(conversations::table)
            .values((
                conversations::company_id.eq(self.company_id),
                conversations::channel_id.eq(channel_id),
                conversations::contact_id.eq(contact_id),
                conversations::assignee_id.eq(assignee),
                conversations::status.eq(status),
                conversations::external_contact_id.eq(Some(external)),
                conversations::last_message_at.eq(last),
                conversations::created_at.eq(last - Duration::minutes(5)),
                conversations::closed_at.eq((status == "closed").then_some(last)),
                conversations::closed_by_id.eq(assignee.filter(|_| status == "closed")),
            ))
            .returning(conversations::id)
            .get_result(conn)?;
        let mut timeline = vec![(
            Direction::Inbound,
            None,
            OPENERS[n % OPENERS.len()].to_string(),
            last - Duration::minutes(5),
        )];
        if n.is_multiple_of(2) && assignee.is_some() {
            timeline.push((
                Direction::Outbound,
                assignee,
                REPLIES[n % REPLIES.len()].to_string(),
                last,
            ));
        } else if status == "open" {
            // the customer's opener is still waiting for an answer
            diesel::update(conversations::table.find(id))
                .set(conversations::awaiting_reply_since.eq(Some(last - Duration::minutes(5))))
                .execute(conn)?;
        }
        for (i, (direction, author, body, created_at)) in timeline.into_iter().enumerate() {
            let external_id = format!("demo-{id}-{i}");
            NewMessage {
                company_id: self.company_id,
                conversation_id: id,
                channel_id,
                direction,
                author_id: author,
                body: &body,
                external_id: Some(&external_id),
                delivery: if direction == Direction::Inbound {
                    "received"
                } else {
                    "queued"
                },
                created_at,
            }
            .insert(conn)?;
        }
        if assignee.is_some() {
            diesel::insert_into(conversation_assignments::table)
                .values((
                    conversation_assignments::conversation_id.eq(id),
                    conversation_assignments::to_user_id.eq(assignee),
                    conversation_assignments::created_at.eq(last - Duration::minutes(4)),
                ))
                .execute(conn)?;
        }
        Ok(())
    }

    fn call_task(
        &mut self,
        conn: &mut DbConnection,
        channel_id: ChannelId,
        assignee: Option<UserId>,
        call_status: &str,
        status: &str,
        age_minutes: i64,
    ) -> Result<(), AppError> {
        let (contact_id, normalized_phone) = self.contact(conn)?;
        let at = self.at - Duration::minutes(age_minutes);
        diesel::insert_into(call_tasks::table)
            .values((
                call_tasks::company_id.eq(self.company_id),
                call_tasks::channel_id.eq(channel_id),
                call_tasks::contact_id.eq(contact_id),
                call_tasks::assignee_id.eq(assignee),
                call_tasks::call_status.eq(call_status),
                call_tasks::duration_seconds.eq(if call_status == "answered" { 184 } else { 0 }),
                call_tasks::status.eq(status),
                call_tasks::caller_id.eq(Some(normalized_phone)),
                call_tasks::external_id.eq(Some(format!("call-{}", self.contact_counter))),
                call_tasks::created_at.eq(at),
                call_tasks::completed_at.eq((status == "done").then_some(at)),
            ))
            .execute(conn)?;
        Ok(())
    }
}

/// Creates the company and a seeder for it; `first_contact` keeps companies' customers apart.
fn start<'a>(
    conn: &mut DbConnection,
    code: &'a str,
    name: &str,
    first_contact: usize,
) -> Result<(Company, Seeder<'a>, RoleId, RoleId), AppError> {
    let actor = Actor {
        user_id: None,
        username: "demo".into(),
        ip: "local".into(),
    };
    let company = companies::create(conn, code, name, &actor)?;
    let supervisor = roles::find_by_name(conn, company.id, "Supervisor")?.id;
    let agent = roles::find_by_name(conn, company.id, "Agent")?.id;
    let seeder = Seeder {
        company_id: company.id,
        company_code: code,
        actor,
        at: now(),
        contact_counter: first_contact,
    };
    Ok((company, seeder, supervisor, agent))
}

fn seed_demo(conn: &mut DbConnection) -> Result<(), AppError> {
    let (company, mut s, supervisor, agent) = start(conn, "DEMO", "Demo Trading Co.", 0)?;
    let auditor = roles::create(
        conn,
        company.id,
        "Auditor",
        None,
        [Permission::ActivityView, Permission::LoginsView]
            .into_iter()
            .collect::<PermissionSet>(),
    )?;

    let sofia = s.user(conn, "sofia", "Sofia Lindqvist", supervisor)?;
    let sam = s.user(conn, "sam", "Sam Okafor", supervisor)?;
    let alice = s.user(conn, "alice", "Alice Moreau", agent)?;
    let bob = s.user(conn, "bob", "Bob Tanaka", agent)?;
    s.user(conn, "dana", "Dana Whitfield", auditor)?;
    let carl = s.user(conn, "carl", "Carl Jensen", agent)?;

    let channel = |conn: &mut DbConnection, name: &str, kind: &'static str| {
        channels::create(
            conn,
            &Caller::system(company.id, s.actor.clone()),
            name,
            kind,
        )
        .map(|id| (id, kind))
    };
    let whatsapp = channel(conn, "WhatsApp Sales", "whatsapp")?;
    let instagram = channel(conn, "Instagram", "instagram")?;
    let messenger = channel(conn, "Messenger", "messenger")?;
    let telegram = channel(conn, "Telegram", "telegram")?;
    let sms = channel(conn, "SMS", "sms")?;
    let voip = channel(conn, "Call Center", "voip")?;

    let all = [whatsapp, instagram, messenger, telegram, sms, voip];
    let memberships: [(UserId, &[(ChannelId, &str)]); 5] = [
        (sofia, &all),
        (sam, &all),
        (alice, &[whatsapp, instagram]),
        (bob, &[whatsapp, telegram, sms]),
        (carl, &[messenger]),
    ];
    for (user, channels_of_user) in memberships {
        for (channel_id, _) in channels_of_user {
            channels::add_member(conn, company.id, *channel_id, user, &s.actor)?;
        }
    }

    // a supervisor who asked for calls: Sam takes the call center's new calls
    diesel::update(
        crate::db::schema::channel_members::table
            .filter(crate::db::schema::channel_members::channel_id.eq(voip.0))
            .filter(crate::db::schema::channel_members::user_id.eq(sam)),
    )
    .set(crate::db::schema::channel_members::receives_new_chats.eq(true))
    .execute(conn)?;

    let mut age = 3;
    for i in 0..22 {
        let ch = if i % 3 == 0 { instagram } else { whatsapp };
        s.conversation(conn, ch, Some(alice), "open", age)?;
        age += 17;
    }
    for i in 0..12 {
        let ch = [whatsapp, telegram, sms][i % 3];
        s.conversation(conn, ch, Some(bob), "open", age)?;
        age += 23;
    }
    for ch in [whatsapp, instagram, messenger, telegram, sms, whatsapp] {
        s.conversation(conn, ch, None, "open", age)?;
        age += 31;
    }
    for (ch, who) in [
        (whatsapp, alice),
        (instagram, alice),
        (sms, bob),
        (telegram, bob),
        (whatsapp, sam),
    ] {
        s.conversation(conn, ch, Some(who), "closed", age)?;
        age += 120;
    }
    s.conversation(conn, messenger, Some(carl), "open", age)?;
    s.conversation(conn, messenger, Some(carl), "closed", age + 60)?;

    s.call_task(conn, voip.0, Some(sam), "missed", "open", 12)?;
    s.call_task(conn, voip.0, Some(sam), "answered", "open", 45)?;
    s.call_task(conn, voip.0, Some(sofia), "missed", "open", 80)?;
    s.call_task(conn, voip.0, Some(sofia), "answered", "done", 200)?;
    s.call_task(conn, voip.0, None, "missed", "open", 25)?;

    users::deactivate(conn, &Caller::system(company.id, s.actor.clone()), carl)?;
    Ok(())
}

fn seed_acme(conn: &mut DbConnection) -> Result<(), AppError> {
    let (company, mut s, supervisor, agent) = start(conn, "ACME", "Acme Logistics", 57)?;
    let olga = s.user(conn, "olga", "Olga Petrova", supervisor)?;
    let alice = s.user(conn, "alice", "Alice Novak", agent)?;
    let whatsapp = channels::create(
        conn,
        &Caller::system(company.id, s.actor.clone()),
        "Acme WhatsApp",
        "whatsapp",
    )?;
    channels::add_member(conn, company.id, whatsapp, olga, &s.actor)?;
    channels::add_member(conn, company.id, whatsapp, alice, &s.actor)?;
    for (i, age) in [7, 50, 190].into_iter().enumerate() {
        let status = if i == 2 { "closed" } else { "open" };
        s.conversation(conn, (whatsapp, "whatsapp"), Some(alice), status, age)?;
    }
    Ok(())
}
