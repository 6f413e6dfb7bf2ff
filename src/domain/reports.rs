//! Reports (`/reports`): what happened in a period, in figures. Every figure is one SQL
//! aggregate over indexed columns (`db::raw`), never rows loaded into the process, and counts
//! only the conversations of the viewer's scope — the visibility rule of the conversation
//! list (`visibility::scope`), except that a role with no conversation right at all sees the
//! company's figures: aggregates carry no contact detail.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::core::ids::{ChannelId, CompanyId, TeamId, UserId};
use crate::core::status::ChannelKind;
use crate::db::DbConnection;
use crate::db::raw::{Dialect, RawSql};
use crate::db::schema::{channels, users};
use crate::domain::visibility::{self, Reach, Scope, ScopeColumns};
use crate::domain::{Viewer, companies, now};
use crate::error::AppError;

/// The longest period a report covers.
pub const MAX_DAYS: i64 = 400;

/// Times are grouped into slots this long before they are placed in the viewer's time zone:
/// a quarter of an hour fits every zone's offset from UTC.
const SLOT_SECONDS: i64 = 900;

/// What a report covers: whole days in the viewer's time zone, and the filters of the page.
#[derive(Clone, Debug)]
pub struct ReportFilter {
    pub first_day: NaiveDate,
    /// The last day counted (inclusive).
    pub last_day: NaiveDate,
    pub zone: Tz,
    /// Empty for every channel the viewer sees.
    pub channels: Vec<ChannelId>,
    /// Only conversations assigned to this user (and their call tasks).
    pub user: Option<UserId>,
    /// Only conversations carrying this label (calls carry none).
    pub label: Option<String>,
    /// Only the channels of this team.
    pub team: Option<TeamId>,
}

impl ReportFilter {
    /// The period as UTC instants: from the start of the first day to the start of the day
    /// after the last, in the viewer's zone.
    pub fn bounds(&self) -> (NaiveDateTime, NaiveDateTime) {
        let after_last = self.last_day.succ_opt().unwrap_or(self.last_day);
        (
            start_of_day(self.zone, self.first_day),
            start_of_day(self.zone, after_last),
        )
    }
}

/// The UTC instant a local day starts at (a day that starts in a daylight-saving gap starts
/// at its first hour that exists).
pub fn start_of_day(zone: Tz, day: NaiveDate) -> NaiveDateTime {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    (0..4)
        .find_map(|hour| {
            zone.from_local_datetime(&(midnight + Duration::hours(hour)))
                .earliest()
        })
        .map(|start| start.naive_utc())
        .unwrap_or(midnight)
}

/// The middle and the slow end of a set of durations, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spread {
    pub count: i64,
    pub median: Option<i64>,
    pub p90: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Conversations that started in the period.
    pub opened: i64,
    /// Conversations closed in the period.
    pub closed: i64,
    /// Of those opened in the period, how many are open now.
    pub still_open: i64,
    /// Of those opened in the period, how many were not answered within the company's
    /// missed-chat time (answered later, or not yet and waiting longer than that).
    pub missed_chats: i64,
    /// Calls missed in the period.
    pub missed_calls: i64,
    /// From the customer's first message to the first reply, over conversations opened in the
    /// period that were answered.
    pub first_response: Spread,
    /// From the start to the close, over conversations closed in the period.
    pub resolution: Spread,
}

#[derive(Clone, Debug)]
pub struct ChannelLine {
    pub id: ChannelId,
    pub name: String,
    pub kind: ChannelKind,
    pub counts: Counts,
}

/// One person's work in the period. Never a customer's detail: counts and times only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentLine {
    pub id: UserId,
    pub name: String,
    pub username: String,
    pub work: Work,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Conversations they replied in.
    pub handled: i64,
    /// Replies they sent.
    pub replies: i64,
    /// Conversations they closed.
    pub closed: i64,
    /// Over the conversations opened in the period whose first reply was theirs.
    pub first_response: Spread,
    /// Open conversations assigned to them now.
    pub open_now: i64,
    pub transfers_in: i64,
    pub transfers_out: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelLine {
    pub label: String,
    /// Conversations opened in the period that carry it.
    pub count: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Day {
    pub day: NaiveDate,
    pub opened: i64,
    pub closed: i64,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub totals: Counts,
    pub channels: Vec<ChannelLine>,
    pub agents: Vec<AgentLine>,
    /// The most used labels first (at most [`LABELS_SHOWN`]).
    pub labels: Vec<LabelLine>,
    pub days: Vec<Day>,
    /// Inbound messages by weekday (Monday first) and hour, in the viewer's zone.
    pub inbound_by_hour: [[i64; 24]; 7],
    /// The company's rule: a chat is missed when unanswered for this long.
    pub missed_chat_minutes: i32,
}

pub const LABELS_SHOWN: i64 = 30;

/// What the report of `viewer` may count: their conversation scope, or the whole company
/// when their role has no conversation right at all.
pub fn scope(conn: &mut DbConnection, viewer: &Viewer) -> Result<Scope, AppError> {
    let mut scope = visibility::scope(conn, viewer)?;
    if scope.reach == Reach::Nothing {
        scope.reach = Reach::Company;
    }
    Ok(scope)
}

const CONVERSATION_COLUMNS: ScopeColumns = ScopeColumns {
    company_id: "c.company_id",
    channel_id: "c.channel_id",
    assignee_id: "c.assignee_id",
    conversation_id: Some("c.id"),
};

const CALL_COLUMNS: ScopeColumns = ScopeColumns {
    company_id: "t.company_id",
    channel_id: "t.channel_id",
    assignee_id: "t.assignee_id",
    conversation_id: None,
};

const MESSAGE_COLUMNS: ScopeColumns = ScopeColumns {
    company_id: "m.company_id",
    channel_id: "m.channel_id",
    // only read through the conversation: `Counting::messages_need_conversation`
    assignee_id: "c.assignee_id",
    conversation_id: Some("m.conversation_id"),
};

/// The scope and the filters, written into each query.
struct Counting<'a> {
    scope: Scope,
    filter: &'a ReportFilter,
    /// The channels of the team filter, when there is one.
    team_channels: Option<Vec<ChannelId>>,
    company_id: CompanyId,
    from: NaiveDateTime,
    to: NaiveDateTime,
}

impl Counting<'_> {
    /// The channel and team filters, on a channel column (`c.channel_id`).
    fn channels(&self, q: &mut RawSql, column: &'static str) {
        if !self.filter.channels.is_empty() {
            q.sql(" AND ")
                .sql(column)
                .sql(" IN ")
                .ints(self.filter.channels.iter().map(|c| c.0));
        }
        if let Some(team) = &self.team_channels {
            q.sql(" AND ")
                .sql(column)
                .sql(" IN ")
                .ints(team.iter().map(|c| c.0));
        }
    }

    /// The conversations (`c`) the report counts.
    fn conversations(&self, q: &mut RawSql) {
        self.scope
            .push_sql(q, &CONVERSATION_COLUMNS, self.company_id);
        self.channels(q, "c.channel_id");
        if let Some(user) = self.filter.user {
            q.sql(" AND c.assignee_id = ").int(user.0);
        }
        if let Some(label) = &self.filter.label {
            q.sql(" AND c.id IN (SELECT l.conversation_id FROM conversation_labels l WHERE l.company_id = ")
                .int(self.company_id.0)
                .sql(" AND l.label = ")
                .text(label)
                .sql(")");
        }
    }

    /// Whether a condition on messages needs their conversation, or the message's own
    /// company and channel say enough (and the join to conversations is saved).
    fn messages_need_conversation(&self) -> bool {
        self.scope.reads_assignee() || self.filter.user.is_some() || self.filter.label.is_some()
    }

    /// `FROM messages m … WHERE` the messages of `direction` in the period that the report counts.
    fn messages_from(&self, q: &mut RawSql, direction: &'static str) {
        if self.messages_need_conversation() {
            q.sql(" FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE ");
            self.conversations(q);
            q.sql(" AND m.company_id = ").int(self.company_id.0);
        } else {
            q.sql(" FROM messages m WHERE ");
            self.scope.push_sql(q, &MESSAGE_COLUMNS, self.company_id);
            self.channels(q, "m.channel_id");
        }
        q.sql(" AND m.direction = ")
            .sql(direction)
            .sql(" AND m.created_at >= ")
            .time(self.from)
            .sql(" AND m.created_at < ")
            .time(self.to);
    }

    /// The call tasks (`t`) the report counts: scope, channels and user (calls carry no label).
    fn calls(&self, q: &mut RawSql) {
        self.scope.push_sql(q, &CALL_COLUMNS, self.company_id);
        self.channels(q, "t.channel_id");
        if let Some(user) = self.filter.user {
            q.sql(" AND t.assignee_id = ").int(user.0);
        }
    }

    fn opened_in_period(&self, q: &mut RawSql) {
        q.sql(" AND c.created_at >= ")
            .time(self.from)
            .sql(" AND c.created_at < ")
            .time(self.to);
    }

    fn closed_in_period(&self, q: &mut RawSql) {
        q.sql(" AND c.closed_at >= ")
            .time(self.from)
            .sql(" AND c.closed_at < ")
            .time(self.to);
    }
}

/// Conversations opened in the period on one channel.
struct OpenedRow {
    channel_id: i64,
    opened: i64,
    still_open: i64,
    missed: i64,
}

#[derive(QueryableByName)]
struct PairRow {
    #[diesel(sql_type = BigInt)]
    a: i64,
    #[diesel(sql_type = BigInt)]
    b: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = BigInt)]
    key: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct LabelRow {
    #[diesel(sql_type = Text)]
    label: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A duration measured in the report: from `earlier` to `later`, over the conversations
/// opened in the period (else closed in it).
struct Measure {
    later: &'static str,
    earlier: &'static str,
    opened: bool,
}

const FIRST_RESPONSE: Measure = Measure {
    later: "c.first_response_at",
    earlier: "c.created_at",
    opened: true,
};

const RESOLUTION: Measure = Measure {
    later: "c.closed_at",
    earlier: "c.created_at",
    opened: false,
};

/// How many conversations took how long (seconds, rounded down to the bucket), per group.
#[derive(Default)]
struct Histogram(BTreeMap<i64, i64>);

impl Histogram {
    fn add(&mut self, bucket: i64, n: i64) {
        *self.0.entry(bucket).or_default() += n;
    }

    /// The median and the 90th percentile: the values ranked ⌈n/2⌉ and ⌈9n/10⌉.
    fn spread(&self) -> Spread {
        let count: i64 = self.0.values().sum();
        let at_rank = |rank: i64| {
            let mut seen = 0;
            self.0.iter().find_map(|(bucket, n)| {
                seen += n;
                (seen >= rank).then_some(*bucket)
            })
        };
        Spread {
            count,
            median: at_rank((count + 1) / 2),
            p90: at_rank((9 * count + 9) / 10),
        }
    }
}

/// Durations per channel and per person (`who`: the first responder, or nobody), as counts per
/// bucket: exact to the second under a minute, to the minute under an hour, to the quarter
/// hour under a day, to the hour beyond. One scan, grouped by the database; the median and the
/// 90th percentile of any grouping then come from the buckets (what the page shows, to the
/// precision it shows it), and no conversation leaves the database.
fn durations(
    counting: &Counting,
    q: &mut RawSql,
    measure: &Measure,
    who: &'static str,
    extras: impl FnOnce(&mut RawSql),
) {
    q.sql(
        "SELECT d.channel_id AS a, d.who AS b, \
         CASE WHEN d.s IS NULL THEN -1 WHEN d.s < 0 THEN 0 WHEN d.s < 60 THEN d.s \
         WHEN d.s < 3600 THEN d.s - d.s % 60 WHEN d.s < 86400 THEN d.s - d.s % 900 \
         ELSE d.s - d.s % 3600 END AS bucket, \
         COUNT(*) AS n, COALESCE(SUM(d.so), 0) AS still_open, COALESCE(SUM(d.mi), 0) AS missed \
         FROM (SELECT c.channel_id AS channel_id, ",
    )
    .sql(who)
    .sql(" AS who, ")
    .seconds_between(measure.later, measure.earlier)
    .sql(" AS s, ");
    extras(q);
    q.sql(" FROM conversations c WHERE ");
    counting.conversations(q);
    if measure.opened {
        counting.opened_in_period(q);
    } else {
        counting.closed_in_period(q);
    }
    // the bucket's CASE names the seconds eight times: computed once (a third less time)
    q.fence().sql(") d GROUP BY 1, 2, 3");
}

#[derive(QueryableByName)]
struct PairBucketRow {
    #[diesel(sql_type = BigInt)]
    a: i64,
    #[diesel(sql_type = BigInt)]
    b: i64,
    /// -1 for none yet (not answered).
    #[diesel(sql_type = BigInt)]
    bucket: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    still_open: i64,
    #[diesel(sql_type = BigInt)]
    missed: i64,
}

/// The spreads of `rows` overall, per channel and per person.
fn spreads(rows: &[PairBucketRow]) -> (Spread, HashMap<i64, Spread>, HashMap<i64, Spread>) {
    let mut all = Histogram::default();
    let mut per_channel: HashMap<i64, Histogram> = HashMap::new();
    let mut per_person: HashMap<i64, Histogram> = HashMap::new();
    for row in rows.iter().filter(|row| row.bucket >= 0) {
        all.add(row.bucket, row.n);
        per_channel.entry(row.a).or_default().add(row.bucket, row.n);
        per_person.entry(row.b).or_default().add(row.bucket, row.n);
    }
    let spread = |groups: HashMap<i64, Histogram>| {
        groups
            .into_iter()
            .map(|(key, histogram)| (key, histogram.spread()))
            .collect()
    };
    (all.spread(), spread(per_channel), spread(per_person))
}

/// Counts per time slot of `column` (conversations opened or closed, inbound messages);
/// `from` writes the FROM and WHERE clauses.
fn per_slot(q: &mut RawSql, column: &'static str, from: impl FnOnce(&mut RawSql)) {
    q.sql("SELECT ")
        .slot_number("g.slot", SLOT_SECONDS)
        .sql(" AS key, g.n AS n FROM (SELECT ")
        .time_bin(column, SLOT_SECONDS)
        .sql(" AS slot, COUNT(*) AS n");
    from(q);
    q.sql(" GROUP BY 1) g");
}

/// The local time a slot starts at.
fn slot_start(zone: Tz, slot: i64) -> Option<NaiveDateTime> {
    let utc = chrono::DateTime::from_timestamp(slot.checked_mul(SLOT_SECONDS)?, 0)?.naive_utc();
    Some(zone.from_utc_datetime(&utc).naive_local())
}

/// Every query of a report, written before any runs: `build` runs them, `explain` shows
/// how the database runs them.
struct Queries {
    missed_calls: RawSql,
    replies: RawSql,
    open_now: RawSql,
    transfers: RawSql,
    labels: RawSql,
    first_response: RawSql,
    resolution: RawSql,
    opened_slots: RawSql,
    closed_slots: RawSql,
    inbound_slots: RawSql,
}

impl Queries {
    fn write(conn: &DbConnection, counting: &Counting, missed_chat_minutes: i32) -> Self {
        let query = || RawSql::new(conn);
        let (from, to) = (counting.from, counting.to);

        // missed calls, per channel
        let mut missed_calls = query();
        missed_calls.sql("SELECT t.channel_id AS key, COUNT(*) AS n FROM call_tasks t WHERE ");
        counting.calls(&mut missed_calls);
        missed_calls
            .sql(" AND t.call_status = 'missed' AND t.created_at >= ")
            .time(from)
            .sql(" AND t.created_at < ")
            .time(to)
            .sql(" GROUP BY t.channel_id");

        // replies and conversations replied in, per author (a: author, b: conversations).
        // PostgreSQL sorts each author's rows for a COUNT(DISTINCT …): grouping by author and
        // conversation first, then by author, costs it a third less. SQLite groups by sorting
        // either way, and the second grouping costs it more than the distinct count.
        let mut replies = query();
        match replies.dialect() {
            Dialect::Postgres => {
                replies.sql(
                    "SELECT r.a AS a, COUNT(*) AS b, CAST(SUM(r.n) AS BIGINT) AS n FROM \
                     (SELECT COALESCE(m.author_id, 0) AS a, COUNT(*) AS n",
                );
                counting.messages_from(&mut replies, "'outbound'");
                replies.sql(" GROUP BY m.author_id, m.conversation_id) r GROUP BY r.a");
            }
            Dialect::Sqlite => {
                replies.sql(
                    "SELECT COALESCE(m.author_id, 0) AS a, COUNT(DISTINCT m.conversation_id) AS b, \
                     COUNT(*) AS n",
                );
                counting.messages_from(&mut replies, "'outbound'");
                replies.sql(" GROUP BY m.author_id");
            }
        }

        // open now, per assignee
        let mut open_now = query();
        open_now.sql("SELECT c.assignee_id AS key, COUNT(*) AS n FROM conversations c WHERE ");
        counting.conversations(&mut open_now);
        open_now.sql(" AND c.status = 'open' AND c.assignee_id IS NOT NULL GROUP BY c.assignee_id");

        // transfers: from one holder (a) to another or to the queue (b; 0)
        let mut transfers = query();
        transfers.sql(
            "SELECT a.from_user_id AS a, COALESCE(a.to_user_id, 0) AS b, COUNT(*) AS n \
             FROM conversation_assignments a JOIN conversations c ON c.id = a.conversation_id \
             WHERE ",
        );
        counting.conversations(&mut transfers);
        transfers
            .sql(" AND a.from_user_id IS NOT NULL AND a.created_at >= ")
            .time(from)
            .sql(" AND a.created_at < ")
            .time(to)
            .sql(" GROUP BY a.from_user_id, a.to_user_id");

        // labels of the conversations opened in the period
        let mut labels = query();
        labels.sql(
            "SELECT COALESCE(lb.name, l.label) AS label, COUNT(*) AS n FROM conversation_labels l \
             JOIN conversations c ON c.id = l.conversation_id \
             LEFT JOIN labels lb ON lb.id = l.label_id WHERE ",
        );
        counting.conversations(&mut labels);
        counting.opened_in_period(&mut labels);
        // shown as first written
        labels
            .sql(" GROUP BY COALESCE(lb.name, l.label) ORDER BY COUNT(*) DESC, COALESCE(lb.name, l.label) LIMIT ")
            .int(LABELS_SHOWN);

        // the conversations opened in the period: answered how fast and by whom, still open,
        // missed (not answered within the company's time, or not yet and waiting longer)
        let mut first_response = query();
        durations(
            counting,
            &mut first_response,
            &FIRST_RESPONSE,
            "COALESCE(c.first_responder_id, 0)",
            |q| {
                let minutes = i64::from(missed_chat_minutes);
                q.sql("CASE WHEN c.status = 'open' THEN 1 ELSE 0 END AS so, ")
                    .sql("CASE WHEN c.first_response_at IS NULL AND c.created_at < ")
                    .time(now() - Duration::minutes(minutes))
                    .sql(" THEN 1 WHEN c.first_response_at IS NOT NULL AND ")
                    .seconds_between("c.first_response_at", "c.created_at")
                    .sql(" > ")
                    .int(minutes * 60)
                    .sql(" THEN 1 ELSE 0 END AS mi");
            },
        );
        // the conversations closed in the period: how long they took, and who closed them
        let mut resolution = query();
        durations(
            counting,
            &mut resolution,
            &RESOLUTION,
            "COALESCE(c.closed_by_id, 0)",
            |q| {
                q.sql("0 AS so, 0 AS mi");
            },
        );

        let mut opened_slots = query();
        per_slot(&mut opened_slots, "c.created_at", |q| {
            q.sql(" FROM conversations c WHERE ");
            counting.conversations(q);
            counting.opened_in_period(q);
        });
        let mut closed_slots = query();
        per_slot(&mut closed_slots, "c.closed_at", |q| {
            q.sql(" FROM conversations c WHERE ");
            counting.conversations(q);
            counting.closed_in_period(q);
        });
        let mut inbound_slots = query();
        per_slot(&mut inbound_slots, "m.created_at", |q| {
            counting.messages_from(q, "'inbound'");
        });

        Self {
            missed_calls,
            replies,
            open_now,
            transfers,
            labels,
            first_response,
            resolution,
            opened_slots,
            closed_slots,
            inbound_slots,
        }
    }

    fn named(&self) -> [(&'static str, &RawSql); 10] {
        [
            ("missed calls", &self.missed_calls),
            ("replies", &self.replies),
            ("open now", &self.open_now),
            ("transfers", &self.transfers),
            ("labels", &self.labels),
            ("first response", &self.first_response),
            ("resolution", &self.resolution),
            ("opened per slot", &self.opened_slots),
            ("closed per slot", &self.closed_slots),
            ("inbound per slot", &self.inbound_slots),
        ]
    }
}

fn counting<'a>(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &'a ReportFilter,
) -> Result<Counting<'a>, AppError> {
    let (from, to) = filter.bounds();
    let team_channels = match filter.team {
        Some(team) => Some(team_channel_ids(conn, viewer.company_id, team)?),
        None => None,
    };
    Ok(Counting {
        scope: scope(conn, viewer)?,
        filter,
        team_channels,
        company_id: viewer.company_id,
        from,
        to,
    })
}

/// How the database runs each query of the report (`EXPLAIN QUERY PLAN` on SQLite,
/// `EXPLAIN` on PostgreSQL), for benchmarks and reviews.
pub fn explain(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &ReportFilter,
) -> Result<Vec<(&'static str, String)>, AppError> {
    let counting = counting(conn, viewer, filter)?;
    let minutes = companies::get(conn, viewer.company_id)?.missed_chat_minutes;
    let queries = Queries::write(conn, &counting, minutes);
    queries
        .named()
        .into_iter()
        .map(|(name, query)| Ok((name, query.explain(conn)?)))
        .collect()
}

/// What the queries of the first lane answer: the period's replies and first answers.
struct FirstLane {
    replies: Vec<PairRow>,
    first_responses: Vec<PairBucketRow>,
    open_now: Vec<KeyRow>,
    missed_calls: Vec<KeyRow>,
}

/// What the queries of the second lane answer: the period's inbound messages, closings,
/// slots, transfers and labels.
struct SecondLane {
    inbound_slots: Vec<KeyRow>,
    resolutions: Vec<PairBucketRow>,
    opened_slots: Vec<KeyRow>,
    closed_slots: Vec<KeyRow>,
    transfers: Vec<PairRow>,
    labels: Vec<LabelRow>,
}

impl Queries {
    /// Runs every query: on `conn` alone, or split in two lanes of about equal cost (each
    /// lane has one scan of the period's messages) with the first on `spare`, in a thread of
    /// its own. The queries only read and are independent of each other, and each already sees
    /// its own snapshot of the data when they run one after another, so the lanes change no
    /// figure; they halve the time of a report when a second connection is idle.
    fn run(
        &self,
        conn: &mut DbConnection,
        spare: Option<&mut DbConnection>,
    ) -> Result<(FirstLane, SecondLane), AppError> {
        let Some(spare) = spare else {
            return Ok((self.first_lane(conn)?, self.second_lane(conn)?));
        };
        std::thread::scope(|lanes| {
            let first = lanes.spawn(|| self.first_lane(spare));
            let second = self.second_lane(conn);
            let first = first
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok((first?, second?))
        })
    }

    fn first_lane(&self, conn: &mut DbConnection) -> Result<FirstLane, AppError> {
        Ok(FirstLane {
            replies: self.replies.load(conn)?,
            first_responses: self.first_response.load(conn)?,
            open_now: self.open_now.load(conn)?,
            missed_calls: self.missed_calls.load(conn)?,
        })
    }

    fn second_lane(&self, conn: &mut DbConnection) -> Result<SecondLane, AppError> {
        Ok(SecondLane {
            inbound_slots: self.inbound_slots.load(conn)?,
            resolutions: self.resolution.load(conn)?,
            opened_slots: self.opened_slots.load(conn)?,
            closed_slots: self.closed_slots.load(conn)?,
            transfers: self.transfers.load(conn)?,
            labels: self.labels.load(conn)?,
        })
    }
}

/// The report for `viewer` over `filter`. With a `spare` connection (one the pool has idle)
/// its queries run in two lanes side by side (`Queries::run`).
pub fn build(
    conn: &mut DbConnection,
    spare: Option<&mut DbConnection>,
    viewer: &Viewer,
    filter: &ReportFilter,
) -> Result<Report, AppError> {
    let counting = counting(conn, viewer, filter)?;
    let missed_chat_minutes = companies::get(conn, viewer.company_id)?.missed_chat_minutes;
    let (first, second) = Queries::write(conn, &counting, missed_chat_minutes).run(conn, spare)?;
    let FirstLane {
        replies,
        first_responses,
        open_now,
        missed_calls,
    } = first;
    let SecondLane {
        inbound_slots,
        resolutions,
        opened_slots,
        closed_slots,
        transfers,
        labels,
    } = second;
    let (first_response_all, first_response_channel, first_response_agent) =
        spreads(&first_responses);
    let (resolution_all, resolution_channel, _) = spreads(&resolutions);
    // opened per channel, closed per channel and closer: the sums of those buckets
    let mut per_channel: BTreeMap<i64, OpenedRow> = BTreeMap::new();
    for row in &first_responses {
        let line = per_channel.entry(row.a).or_insert(OpenedRow {
            channel_id: row.a,
            opened: 0,
            still_open: 0,
            missed: 0,
        });
        line.opened += row.n;
        line.still_open += row.still_open;
        line.missed += row.missed;
    }
    let opened: Vec<OpenedRow> = per_channel.into_values().collect();
    let closed: Vec<PairRow> = resolutions
        .iter()
        .map(|row| PairRow {
            a: row.a,
            b: row.b,
            n: row.n,
        })
        .collect();

    // ---- the figures, put together ----
    let mut channel_counts: BTreeMap<i64, Counts> = BTreeMap::new();
    for row in &opened {
        let counts = channel_counts.entry(row.channel_id).or_default();
        counts.opened = row.opened;
        counts.still_open = row.still_open;
        counts.missed_chats = row.missed;
    }
    for row in &closed {
        channel_counts.entry(row.a).or_default().closed += row.n;
    }
    for row in &missed_calls {
        channel_counts.entry(row.key).or_default().missed_calls = row.n;
    }
    for (channel, spread) in &first_response_channel {
        channel_counts.entry(*channel).or_default().first_response = *spread;
    }
    for (channel, spread) in &resolution_channel {
        channel_counts.entry(*channel).or_default().resolution = *spread;
    }
    let totals = Counts {
        opened: opened.iter().map(|r| r.opened).sum(),
        closed: closed.iter().map(|r| r.n).sum(),
        still_open: opened.iter().map(|r| r.still_open).sum(),
        missed_chats: opened.iter().map(|r| r.missed).sum(),
        missed_calls: missed_calls.iter().map(|r| r.n).sum(),
        first_response: first_response_all,
        resolution: resolution_all,
    };

    // every channel the report may show, with or without traffic
    let mut shown = channels_shown(conn, viewer.company_id, &counting.scope, &filter.channels)?;
    if let Some(team) = &counting.team_channels {
        shown.retain(|(id, _, _)| team.contains(id));
    }
    let channel_lines = shown
        .into_iter()
        .map(|(id, name, kind)| ChannelLine {
            counts: channel_counts.remove(&id.0).unwrap_or_default(),
            id,
            name,
            kind,
        })
        .collect();

    let mut agents: BTreeMap<i64, Work> = BTreeMap::new();
    // 0 stands for nobody (no author, a transfer to the queue)
    fn of(agents: &mut BTreeMap<i64, Work>, id: i64) -> Option<&mut Work> {
        (id != 0).then(|| agents.entry(id).or_default())
    }
    for row in &closed {
        if let Some(line) = of(&mut agents, row.b) {
            line.closed += row.n;
        }
    }
    for row in &replies {
        if let Some(line) = of(&mut agents, row.a) {
            line.handled = row.b;
            line.replies = row.n;
        }
    }
    for (user, spread) in &first_response_agent {
        if let Some(line) = of(&mut agents, *user) {
            line.first_response = *spread;
        }
    }
    for row in &open_now {
        if let Some(line) = of(&mut agents, row.key) {
            line.open_now = row.n;
        }
    }
    for row in &transfers {
        if let Some(line) = of(&mut agents, row.a) {
            line.transfers_out += row.n;
        }
        if let Some(line) = of(&mut agents, row.b) {
            line.transfers_in += row.n;
        }
    }
    let names: Vec<(UserId, String, String)> = users::table
        .filter(users::company_id.eq(viewer.company_id))
        .filter(users::id.eq_any(agents.keys().copied().map(UserId).collect::<Vec<_>>()))
        .select((users::id, users::display_name, users::username))
        .load(conn)?;
    let mut agent_lines: Vec<AgentLine> = names
        .into_iter()
        .filter_map(|(id, name, username)| {
            agents.remove(&id.0).map(|work| AgentLine {
                id,
                name,
                username,
                work,
            })
        })
        .collect();
    agent_lines.sort_by(|a, b| {
        b.work
            .handled
            .cmp(&a.work.handled)
            .then(a.name.cmp(&b.name))
    });

    let mut days: BTreeMap<NaiveDate, (i64, i64)> = BTreeMap::new();
    let mut day = filter.first_day;
    while day <= filter.last_day {
        days.insert(day, (0, 0));
        day = match day.succ_opt() {
            Some(next) => next,
            None => break,
        };
    }
    for (rows, opened_side) in [(&opened_slots, true), (&closed_slots, false)] {
        for row in rows {
            if let Some(at) = slot_start(filter.zone, row.key)
                && let Some(counts) = days.get_mut(&at.date())
            {
                if opened_side {
                    counts.0 += row.n;
                } else {
                    counts.1 += row.n;
                }
            }
        }
    }
    let mut inbound_by_hour = [[0_i64; 24]; 7];
    for row in &inbound_slots {
        if let Some(at) = slot_start(filter.zone, row.key) {
            let weekday = at.weekday().num_days_from_monday() as usize;
            inbound_by_hour[weekday][at.hour() as usize] += row.n;
        }
    }

    Ok(Report {
        totals,
        channels: channel_lines,
        agents: agent_lines,
        // a label stored before labels refused numbers is masked like any identifier
        labels: labels
            .into_iter()
            .map(|row| LabelLine {
                label: viewer.contact_mask().identifier(&row.label),
                count: row.n,
            })
            .collect(),
        days: days
            .into_iter()
            .map(|(day, (opened, closed))| Day {
                day,
                opened,
                closed,
            })
            .collect(),
        inbound_by_hour,
        missed_chat_minutes,
    })
}

/// The company's channels within `scope` (and within `only`, when it names any), by name.
/// The channels of a team of the company (none for another company's team).
fn team_channel_ids(
    conn: &mut DbConnection,
    company_id: CompanyId,
    team: TeamId,
) -> Result<Vec<ChannelId>, AppError> {
    Ok(channels::table
        .filter(channels::company_id.eq(company_id))
        .filter(channels::team_id.eq(team))
        .select(channels::id)
        .load(conn)?)
}

fn channels_shown(
    conn: &mut DbConnection,
    company_id: CompanyId,
    scope: &Scope,
    only: &[ChannelId],
) -> Result<Vec<(ChannelId, String, ChannelKind)>, AppError> {
    let mut shown = channels::table
        .filter(channels::company_id.eq(company_id))
        .order(channels::name)
        .select((channels::id, channels::name, channels::kind))
        .into_boxed();
    if let Some(limit) = scope.channel_limit() {
        shown = shown.filter(channels::id.eq_any(limit));
    }
    if !only.is_empty() {
        shown = shown.filter(channels::id.eq_any(only.to_vec()));
    }
    Ok(shown.load(conn)?)
}

/// What a report's filter form offers: the channels, people and teams of the viewer's scope
/// (a team shows when one of its channels does).
pub struct Choices {
    pub channels: Vec<(ChannelId, String)>,
    pub users: Vec<(UserId, String)>,
    pub teams: Vec<(TeamId, String)>,
}

pub fn choices(conn: &mut DbConnection, viewer: &Viewer) -> Result<Choices, AppError> {
    use crate::db::schema::channel_members;
    let scope = scope(conn, viewer)?;
    let channels: Vec<(ChannelId, String)> = channels_shown(conn, viewer.company_id, &scope, &[])?
        .into_iter()
        .map(|(id, name, _)| (id, name))
        .collect();
    let people = users::table
        .filter(users::company_id.eq(viewer.company_id))
        .filter(users::deleted_at.is_null())
        .order(users::display_name)
        .select((users::id, users::display_name))
        .into_boxed();
    let people = match (&scope, scope.only_assigned_to()) {
        // a report of one's own conversations has one person in it
        (_, Some(user_id)) => people.filter(users::id.eq(user_id)),
        (
            Scope {
                reach: Reach::Company,
                ..
            },
            None,
        ) => people,
        // the members of the channels the report covers
        _ => people.filter(
            users::id.eq_any(
                channel_members::table
                    .filter(
                        channel_members::channel_id
                            .eq_any(channels.iter().map(|c| c.0).collect::<Vec<_>>()),
                    )
                    .select(channel_members::user_id),
            ),
        ),
    };
    let teams = crate::db::schema::teams::table
        .filter(crate::db::schema::teams::company_id.eq(viewer.company_id))
        .filter(
            crate::db::schema::teams::id.nullable().eq_any(
                channels::table
                    .filter(channels::id.eq_any(channels.iter().map(|c| c.0).collect::<Vec<_>>()))
                    .select(channels::team_id),
            ),
        )
        .order(crate::db::schema::teams::name)
        .select((crate::db::schema::teams::id, crate::db::schema::teams::name))
        .load(conn)?;
    Ok(Choices {
        channels,
        users: people.load(conn)?,
        teams,
    })
}

/// The viewer's time zone (UTC when none was chosen or the stored name is unknown).
pub fn time_zone(conn: &mut DbConnection, user_id: UserId) -> Result<Tz, AppError> {
    let name: String = users::table
        .find(user_id)
        .select(users::time_zone)
        .first(conn)?;
    Ok(name.parse().unwrap_or(Tz::UTC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_at_local_midnight_and_a_gap_moves_it_to_the_first_hour_that_exists() {
        let day = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap_or_default();
        let istanbul: Tz = "Europe/Istanbul".parse().unwrap_or(Tz::UTC);
        assert_eq!(
            start_of_day(istanbul, day).to_string(),
            "2026-06-30 21:00:00"
        );
        // Santiago moved its clocks from 00:00 to 01:00 on 2026-09-06
        let santiago: Tz = "America/Santiago".parse().unwrap_or(Tz::UTC);
        let gap = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap_or_default();
        assert_eq!(
            start_of_day(santiago, gap).to_string(),
            "2026-09-06 04:00:00"
        );
    }

    #[test]
    fn slots_land_in_the_local_hour_of_zones_a_quarter_or_half_hour_off() {
        let kathmandu: Tz = "Asia/Kathmandu".parse().unwrap_or(Tz::UTC);
        // 2026-01-05 03:15 UTC is 09:00 in Kathmandu (UTC+5:45)
        let at = NaiveDate::from_ymd_opt(2026, 1, 5)
            .and_then(|d| d.and_hms_opt(3, 15, 0))
            .unwrap_or_default();
        let slot = at.and_utc().timestamp() / SLOT_SECONDS;
        assert_eq!(
            slot_start(kathmandu, slot).map(|t| t.to_string()),
            Some("2026-01-05 09:00:00".into())
        );
    }
}
