//! Teams through the real App, on SQLite and on PostgreSQL: the scope
//! `conversations.view_team` on every listing, search, export, report and live update; the
//! "only within my teams" role flag on users and channel assignment; the teams pages
//! themselves (validation, audit) and the demo workspace's teams.

use crate::common::on_both_databases;
use crate::common::{Client, Page, TestApp, channel_id, company_id, give_role, id_of};
use diesel::prelude::*;
use switchboard::core::permissions::Permission;
use switchboard::db::schema::{channels, contacts, conversations, team_members, teams};

fn team_id(app: &TestApp, name: &str) -> i64 {
    teams::table
        .filter(teams::name.eq(name))
        .select(teams::id)
        .first(&mut app.conn())
        .unwrap()
}

/// (conversation id, contact name) of every conversation on a channel.
fn conversations_on(app: &TestApp, channel: &str) -> Vec<(i64, String)> {
    conversations::table
        .inner_join(contacts::table)
        .filter(conversations::channel_id.eq(channel_id(app, channel)))
        .order(conversations::id)
        .select((conversations::id, contacts::name))
        .load(&mut app.conn())
        .unwrap()
}

/// The figure a report page shows in the element with this id.
fn figure(page: &Page, id: &str) -> i64 {
    let start = page
        .body
        .find(&format!(r#"id="{id}">"#))
        .unwrap_or_else(|| panic!("no #{id} on the page"))
        + id.len()
        + 6;
    page.body[start..]
        .split('<')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Sets a team's members, leads and channels through its form, as someone holding
/// `teams.manage`.
async fn set_team(
    client: &mut Client,
    team: i64,
    name: &str,
    members: &[i64],
    leads: &[i64],
    channels: &[i64],
) -> Page {
    client.get(&format!("/teams/{team}")).await;
    let (members, leads, channels) = (
        members.iter().map(i64::to_string).collect::<Vec<_>>(),
        leads.iter().map(i64::to_string).collect::<Vec<_>>(),
        channels.iter().map(i64::to_string).collect::<Vec<_>>(),
    );
    let mut fields = vec![("name", name)];
    fields.extend(members.iter().map(|m| ("member_ids", m.as_str())));
    fields.extend(leads.iter().map(|l| ("lead_ids", l.as_str())));
    fields.extend(channels.iter().map(|c| ("channel_ids", c.as_str())));
    client.post(&format!("/teams/{team}"), &fields).await
}

/// The demo workspace's teams as the contract lists them, seeded once however often the
/// seed runs (and again into a database that lost them).
async fn the_demo_has_its_teams_and_a_team_lead(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let page = sofia.get("/teams").await;
    page.assert_status(200)
        .assert_contains("Sales")
        .assert_contains("Support")
        .assert_contains("Tina Marsh");
    let support = team_id(&app, "Support");
    let page = sofia.get(&format!("/teams/{support}")).await;
    for channel in ["Telegram", "SMS", "Call Center"] {
        let id = channel_id(&app, channel);
        page.assert_contains(&format!(r#"name="channel_ids" value="{id}" checked"#));
    }
    let tina = id_of(&app, "DEMO", "tina");
    page.assert_contains(&format!(
        r#"name="lead_ids" value="{tina}" aria-label="Tina Marsh leads the team" checked"#
    ));
    // a second seed adds nothing
    assert!(!switchboard::domain::demo::seed(&mut app.conn()).unwrap());
    let count = || -> i64 { teams::table.count().get_result(&mut app.conn()).unwrap() };
    assert_eq!(count(), 2);
    // a database whose DEMO has no teams gains them (tina and her role are reused)
    diesel::delete(team_members::table)
        .execute(&mut app.conn())
        .unwrap();
    diesel::update(channels::table)
        .set(channels::team_id.eq(None::<i64>))
        .execute(&mut app.conn())
        .unwrap();
    diesel::delete(teams::table)
        .execute(&mut app.conn())
        .unwrap();
    assert!(switchboard::domain::demo::seed(&mut app.conn()).unwrap());
    assert_eq!(count(), 2);
    // tina signs in and sees her team's channels' conversations
    let mut tina = app.signed_in("DEMO", "tina").await;
    let telegram = conversations_on(&app, "Telegram");
    tina.get(&format!("/conversations/{}", telegram[0].0))
        .await
        .assert_status(200);
}

/// The visibility rule's table of cases — own, channel, team, all — for one conversation on
/// each kind of channel: opened directly, and as a link in the viewer's list.
async fn visibility_follows_own_channel_team_and_all(app: TestApp) {
    // dana watches Instagram wholly (a channel scope)
    give_role(
        &app,
        "dana",
        "Watcher",
        &[Permission::ConversationsViewChannel],
    );
    {
        let mut conn = app.conn();
        let caller = switchboard::domain::Caller::system(
            company_id(&app, "DEMO"),
            switchboard::domain::Actor::cli(),
        );
        switchboard::domain::channels::add_member(
            &mut conn,
            caller.company_id,
            switchboard::core::ids::ChannelId(channel_id(&app, "Instagram")),
            switchboard::core::ids::UserId(id_of(&app, "DEMO", "dana")),
            &caller.actor,
        )
        .unwrap();
    }
    app.wait_for_change_elsewhere();
    let alice_id = id_of(&app, "DEMO", "alice");
    let assigned_to = |id: i64| -> Option<i64> {
        conversations::table
            .find(id)
            .select(conversations::assignee_id)
            .first(&mut app.conn())
            .unwrap()
    };
    let whatsapp_alice = conversations_on(&app, "WhatsApp Sales")
        .into_iter()
        .find(|(id, _)| assigned_to(*id) == Some(alice_id))
        .unwrap()
        .0;
    let instagram_alice = conversations_on(&app, "Instagram")
        .into_iter()
        .find(|(id, _)| assigned_to(*id) == Some(alice_id))
        .unwrap()
        .0;
    let telegram_bob = conversations_on(&app, "Telegram")
        .into_iter()
        .find(|(id, _)| assigned_to(*id) == Some(id_of(&app, "DEMO", "bob")))
        .unwrap()
        .0;
    let messenger = conversations_on(&app, "Messenger")[0].0;
    // (viewer, conversation, visible)
    let cases = [
        ("alice", whatsapp_alice, true),
        ("alice", instagram_alice, true),
        ("alice", telegram_bob, false),
        ("alice", messenger, false),
        ("dana", instagram_alice, true),
        ("dana", whatsapp_alice, false),
        ("dana", telegram_bob, false),
        ("tina", telegram_bob, true),
        ("tina", whatsapp_alice, false),
        ("tina", instagram_alice, false),
        ("tina", messenger, false),
        ("sofia", whatsapp_alice, true),
        ("sofia", telegram_bob, true),
        ("sofia", messenger, true),
    ];
    for viewer in ["alice", "dana", "tina", "sofia"] {
        let mut client = app.signed_in("DEMO", viewer).await;
        let list = client.get("/conversations?status=all").await;
        for (_, conversation, visible) in cases.iter().filter(|c| c.0 == viewer) {
            let opened = client.get(&format!("/conversations/{conversation}")).await;
            let link = format!(r#"href="/conversations/{conversation}""#);
            if *visible {
                opened.assert_status(200);
                list.assert_contains(&link);
            } else {
                opened.assert_status(404);
                list.assert_lacks(&link);
            }
        }
    }
}

/// A desk of Brand B (Support) never sees, counts, finds, exports, reports or opens Brand A's
/// (Sales) conversations; what it counts is what a supervisor counts with the team filter.
async fn nothing_crosses_a_team_line(app: TestApp) {
    give_role(
        &app,
        "dana",
        "Support desk",
        &[
            Permission::ConversationsViewTeam,
            Permission::ConversationsReply,
            Permission::ExportsCreate,
            Permission::ReportsView,
        ],
    );
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let support = team_id(&app, "Support");
    let (bob, tina, dana) = (
        id_of(&app, "DEMO", "bob"),
        id_of(&app, "DEMO", "tina"),
        id_of(&app, "DEMO", "dana"),
    );
    let support_channels = [
        channel_id(&app, "Telegram"),
        channel_id(&app, "SMS"),
        channel_id(&app, "Call Center"),
    ];
    set_team(
        &mut sofia,
        support,
        "Support",
        &[bob, dana],
        &[tina],
        &support_channels,
    )
    .await
    .assert_status(303);

    let sales: Vec<(i64, String)> = ["WhatsApp Sales", "Instagram"]
        .iter()
        .flat_map(|c| conversations_on(&app, c))
        .collect();
    let ours: Vec<(i64, String)> = ["Telegram", "SMS"]
        .iter()
        .flat_map(|c| conversations_on(&app, c))
        .collect();
    assert!(!sales.is_empty() && !ours.is_empty());

    let mut desk = app.signed_in("DEMO", "dana").await;
    let list = desk.get("/conversations?status=all").await;
    list.assert_status(200);
    for (id, _) in &ours {
        list.assert_contains(&format!(r#"href="/conversations/{id}""#));
    }
    for (id, name) in &sales {
        list.assert_lacks(&format!(r#"href="/conversations/{id}""#));
        desk.get(&format!("/conversations/{id}"))
            .await
            .assert_status(404);
        desk.get(&format!("/conversations/{id}/live"))
            .await
            .assert_lacks(name);
        desk.post(&format!("/conversations/{id}/messages"), &[("body", "hi")])
            .await
            .assert_status(404);
        // search does not find them either
        let q: String = name.split(' ').next().unwrap().to_string();
        let found = desk.get(&format!("/conversations?status=all&q={q}")).await;
        found.assert_lacks(&format!(r#"href="/conversations/{id}""#));
    }
    let csv = desk.get("/exports/conversations.csv?status=all").await;
    csv.assert_status(200);
    let exported_ids: Vec<String> = csv
        .body
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    for (id, _) in &sales {
        assert!(!exported_ids.contains(&id.to_string()), "exported {id}");
    }
    for (id, _) in &ours {
        assert!(exported_ids.contains(&id.to_string()), "left out {id}");
    }
    // the report counts the team's channels only: the figure of a supervisor's report
    // filtered to the team, and less than the whole company's
    let theirs = desk.get("/reports?range=30d").await;
    theirs
        .assert_status(200)
        .assert_lacks("WhatsApp Sales")
        .assert_lacks("Instagram");
    let filtered = sofia
        .get(&format!("/reports?range=30d&team={support}"))
        .await;
    filtered
        .assert_status(200)
        .assert_lacks(r#"<td>WhatsApp Sales"#);
    let whole = sofia.get("/reports?range=30d").await;
    for id in ["total-opened", "total-closed", "total-missed-calls"] {
        assert_eq!(figure(&theirs, id), figure(&filtered, id), "{id}");
    }
    assert!(figure(&whole, "total-opened") > figure(&theirs, "total-opened"));
    // the report offers the viewer's own team only
    let offered = theirs.body.split(r#"name="team""#).nth(1).unwrap();
    let offered = offered.split("</select>").next().unwrap();
    assert!(
        offered.contains(&format!(r#"<option value="{support}""#)),
        "{offered}"
    );
    assert!(
        offered.contains("Support") && !offered.contains("Sales"),
        "{offered}"
    );
}

/// Tina leads Support with a role limited to her teams: she sees and manages only the people
/// all of whose teams she leads, adds people only to her teams' channels (and her teams), and
/// assigns only those channels.
async fn a_team_lead_manages_only_her_team(app: TestApp) {
    let mut tina = app.signed_in("DEMO", "tina").await;
    let (alice, bob, sam) = (
        id_of(&app, "DEMO", "alice"),
        id_of(&app, "DEMO", "bob"),
        id_of(&app, "DEMO", "sam"),
    );
    let agent_role = crate::common::role_id(&app, "DEMO", "Agent").to_string();
    let (telegram, whatsapp) = (
        channel_id(&app, "Telegram").to_string(),
        channel_id(&app, "WhatsApp Sales").to_string(),
    );
    tina.get("/users/new")
        .await
        .assert_status(200)
        .assert_contains("Telegram")
        .assert_lacks("WhatsApp Sales");
    let new_user = |username: &'static str, channel: String| {
        let role = agent_role.clone();
        move || {
            vec![
                ("username", username.to_string()),
                ("display_name", "Sue Park".to_string()),
                ("email", String::new()),
                ("phone", String::new()),
                ("role_id", role.clone()),
                ("password", "Harbor-Lantern-42!".to_string()),
                ("channel_ids", channel.clone()),
            ]
        }
    };
    let as_fields =
        |fields: &[(&'static str, String)]| -> Vec<(&'static str, String)> { fields.to_vec() };
    // a channel of another team: 422, nobody added
    let fields = as_fields(&new_user("sue", whatsapp.clone())());
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tina.post("/users", &refs)
        .await
        .assert_status(422)
        .assert_contains("Choose channels of the teams you lead only.");
    assert!(
        switchboard::domain::users::find_by_username(
            &mut app.conn(),
            company_id(&app, "DEMO"),
            "sue"
        )
        .unwrap()
        .is_none()
    );
    let fields = as_fields(&new_user("sue", telegram.clone())());
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tina.post("/users", &refs).await.assert_status(303);
    let sue = id_of(&app, "DEMO", "sue");
    // sue joined Support, so tina reaches her
    let list = tina.get("/users").await;
    list.assert_status(200)
        .assert_contains(&format!(r#"href="/users/{sue}""#))
        .assert_lacks(&format!(r#"href="/users/{alice}""#))
        // bob is also in Sales, which tina does not lead
        .assert_lacks(&format!(r#"href="/users/{bob}""#));
    // nor may a page cursor name him: where his sort keys fall would tell his last sign-in
    tina.get(&format!("/users?sort=last_sign_in&after={bob}"))
        .await
        .assert_status(422)
        .assert_contains("The page cursor is not valid.");
    tina.get(&format!("/users?sort=last_sign_in&after={sue}"))
        .await
        .assert_status(200);
    // her filter offers her teams' channels only
    let offered = list.body.split(r#"name="channel""#).nth(1).unwrap();
    let offered = offered.split("</select>").next().unwrap();
    assert!(
        offered.contains("Telegram") && !offered.contains("WhatsApp Sales"),
        "{offered}"
    );
    tina.get(&format!("/users/{sue}"))
        .await
        .assert_status(200)
        .assert_contains("Support");
    tina.get(&format!("/users/{bob}")).await.assert_status(404);
    tina.post(&format!("/users/{bob}/deactivate"), &[])
        .await
        .assert_status(404);
    tina.post(&format!("/users/{alice}/reset-password"), &[])
        .await
        .assert_status(404);
    // the matrix holds her team's channels and people; others are refused
    let matrix = tina.get("/assignments").await;
    matrix
        .assert_status(200)
        .assert_contains("Telegram")
        .assert_lacks("WhatsApp Sales")
        .assert_lacks("Alice Moreau");
    let sms = channel_id(&app, "SMS").to_string();
    tina.post(
        "/assignments",
        &[
            ("user_id", &sue.to_string()),
            ("channel_id", &sms),
            ("assigned", "true"),
        ],
    )
    .await
    .assert_status(303);
    tina.post(
        "/assignments",
        &[
            ("user_id", &sue.to_string()),
            ("channel_id", &whatsapp),
            ("assigned", "true"),
        ],
    )
    .await
    .assert_status(403);
    tina.post(
        "/assignments",
        &[
            ("user_id", &bob.to_string()),
            ("channel_id", &sms),
            ("assigned", "false"),
        ],
    )
    .await
    .assert_status(404);
    let on_whatsapp: i64 = switchboard::db::schema::channel_members::table
        .filter(switchboard::db::schema::channel_members::user_id.eq(sue))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(on_whatsapp, 2, "Telegram and SMS, nothing else");
    // within her team she still may not act on someone who can do more than she can
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    set_team(
        &mut sofia,
        team_id(&app, "Support"),
        "Support",
        &[bob, sue, sam],
        &[id_of(&app, "DEMO", "tina")],
        &[
            channel_id(&app, "Telegram"),
            channel_id(&app, "SMS"),
            channel_id(&app, "Call Center"),
        ],
    )
    .await
    .assert_status(303);
    tina.get(&format!("/users/{sam}")).await.assert_status(200);
    tina.post(&format!("/users/{sam}/deactivate"), &[])
        .await
        .assert_status(403);
    tina.post(&format!("/users/{sue}/deactivate"), &[])
        .await
        .assert_status(303);
}

/// A role limited to its holder's teams is less than the same role without the limit: its
/// holder may not act on, or grant, the unlimited one.
async fn a_team_limit_is_kept_on_roles(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/roles").await;
    sofia
        .post(
            "/roles",
            &[
                ("name", "Desk lead"),
                ("permissions", "users.view"),
                ("permissions", "users.manage"),
                ("teams_only", "true"),
            ],
        )
        .await
        .assert_status(303);
    let role = crate::common::role_id(&app, "DEMO", "Desk lead");
    sofia
        .get(&format!("/roles/{role}"))
        .await
        .assert_contains(r#"name="teams_only" value="true" checked"#);
    sofia
        .get("/roles")
        .await
        .assert_contains("only within their teams");
    let said = crate::common::audit_summaries(&app, "role.create");
    assert!(
        said.last().unwrap().contains("only within their teams"),
        "{said:?}"
    );
    // the lead's own role, limited, may not create the unlimited one
    give_role(
        &app,
        "dana",
        "Limited admin",
        &[
            Permission::UsersView,
            Permission::UsersManage,
            Permission::RolesManage,
        ],
    );
    diesel::update(
        switchboard::db::schema::roles::table
            .filter(switchboard::db::schema::roles::name.eq("Limited admin")),
    )
    .set((
        switchboard::db::schema::roles::teams_only.eq(true),
        switchboard::db::schema::roles::version.eq(switchboard::db::schema::roles::version + 1),
    ))
    .execute(&mut app.conn())
    .unwrap();
    app.wait_for_change_elsewhere();
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/roles").await;
    dana.post(
        "/roles",
        &[
            ("name", "Everyone's admin"),
            ("permissions", "users.manage"),
        ],
    )
    .await
    .assert_status(403);
    dana.post(
        "/roles",
        &[
            ("name", "Team admin"),
            ("permissions", "users.manage"),
            ("teams_only", "true"),
        ],
    )
    .await
    .assert_status(303);
}

/// The teams pages: names checked (422, nothing saved), ids of this company only, a lead is a
/// member, a channel moves between teams, each change recorded; agents are refused and another
/// company's team is not found.
async fn teams_are_managed_and_recorded(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/teams").await;
    sofia
        .post("/teams", &[("name", "  ")])
        .await
        .assert_status(422)
        .assert_contains("A team name is 1 to 60 characters");
    sofia
        .post("/teams", &[("name", "sales")])
        .await
        .assert_status(422)
        .assert_contains("A team named sales already exists.");
    let created = sofia.post("/teams", &[("name", "Brand B")]).await;
    created.assert_status(303);
    let brand = team_id(&app, "Brand B");
    assert_eq!(created.location(), Some(format!("/teams/{brand}").as_str()));

    let olga = id_of(&app, "ACME", "olga");
    let carl = id_of(&app, "DEMO", "carl");
    let messenger = channel_id(&app, "Messenger");
    let instagram = channel_id(&app, "Instagram");
    let page = set_team(&mut sofia, brand, "Brand B", &[olga], &[], &[messenger]).await;
    page.assert_status(422)
        .assert_contains("Choose people of this company only.");
    let page = sofia
        .post(
            &format!("/teams/{brand}"),
            &[("name", "Brand B"), ("channel_ids", "not-a-number")],
        )
        .await;
    page.assert_status(422)
        .assert_contains("Choose channels of this company only.");
    let members: i64 = team_members::table
        .filter(team_members::team_id.eq(brand))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(members, 0, "nothing saved");

    // carl leads without being ticked as a member: he is one; Instagram leaves Sales
    set_team(
        &mut sofia,
        brand,
        "Brand B",
        &[],
        &[carl],
        &[messenger, instagram],
    )
    .await
    .assert_status(303);
    let rows: Vec<(i64, bool)> = team_members::table
        .filter(team_members::team_id.eq(brand))
        .select((team_members::user_id, team_members::is_lead))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(rows, vec![(carl, true)]);
    let team_of_instagram: Option<i64> = channels::table
        .find(instagram)
        .select(channels::team_id)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(team_of_instagram, Some(brand));
    let said = crate::common::audit_summaries(&app, "team.update");
    let last = said.last().unwrap();
    assert!(last.contains("leads: none → carl"), "{last}");
    assert!(
        last.contains("moved here from another team: Instagram"),
        "{last}"
    );
    assert_eq!(
        crate::common::audit_summaries(&app, "team.create").len(),
        3,
        "two demo teams and Brand B"
    );
    sofia
        .get("/teams")
        .await
        .assert_contains("Brand B")
        .assert_contains("Carl Jensen");

    // refused to an agent; not found in another company
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/teams").await.assert_status(403);
    alice
        .get(&format!("/teams/{brand}"))
        .await
        .assert_status(403);
    let mut olga_client = app.signed_in("ACME", "olga").await;
    olga_client
        .get(&format!("/teams/{brand}"))
        .await
        .assert_status(404);
    olga_client.get("/teams").await;
    olga_client
        .post(&format!("/teams/{brand}/delete"), &[])
        .await
        .assert_status(404);

    sofia
        .post(&format!("/teams/{brand}/delete"), &[])
        .await
        .assert_status(303);
    let left: i64 = channels::table
        .filter(channels::team_id.eq(brand))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(crate::common::audit_summaries(&app, "team.delete").len(), 1);
}

on_both_databases!(
    the_demo_has_its_teams_and_a_team_lead,
    visibility_follows_own_channel_team_and_all,
    nothing_crosses_a_team_line,
    a_team_lead_manages_only_her_team,
    a_team_limit_is_kept_on_roles,
    teams_are_managed_and_recorded,
);

/// A team lead who may end sessions sees and ends those of the people she reaches only (and
/// her own): the list stops at the team line like the action behind it.
async fn a_team_lead_sees_only_her_teams_sessions(app: TestApp) {
    use switchboard::db::schema::{role_permissions, roles};
    let team_lead = crate::common::role_id(&app, "DEMO", "Team Lead");
    diesel::insert_into(role_permissions::table)
        .values((
            role_permissions::role_id.eq(team_lead),
            role_permissions::permission.eq("sessions.manage"),
        ))
        .execute(&mut app.conn())
        .unwrap();
    diesel::update(roles::table.find(team_lead))
        .set(roles::version.eq(roles::version + 1))
        .execute(&mut app.conn())
        .unwrap();
    app.wait_for_change_elsewhere();
    let mut tina = app.signed_in("DEMO", "tina").await;
    let telegram = channel_id(&app, "Telegram").to_string();
    let agent_role = crate::common::role_id(&app, "DEMO", "Agent").to_string();
    tina.get("/users/new").await;
    tina.post(
        "/users",
        &[
            ("username", "sue"),
            ("display_name", "Sue Park"),
            ("role_id", &agent_role),
            ("password", "Harbor-Lantern-42!"),
            ("channel_ids", &telegram),
        ],
    )
    .await
    .assert_status(303);
    // everyone has a live session
    for name in ["sue", "alice", "bob", "sam"] {
        app.signed_in("DEMO", name).await;
    }
    let list = tina.get("/sessions").await;
    list.assert_status(200)
        .assert_contains("@sue")
        .assert_contains("@tina");
    for outside in ["@alice", "@bob", "@sam"] {
        list.assert_lacks(outside);
    }
    let alice = id_of(&app, "DEMO", "alice").to_string();
    tina.post("/sessions/revoke-user", &[("user_id", &alice)])
        .await
        .assert_status(404);
    let sue = id_of(&app, "DEMO", "sue").to_string();
    tina.post("/sessions/revoke-user", &[("user_id", &sue)])
        .await
        .assert_status(303);
    // a supervisor still sees everyone
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/sessions")
        .await
        .assert_contains("@alice")
        .assert_contains("@tina");
}

on_both_databases!(a_team_lead_sees_only_her_teams_sessions);
