//! Conversations, their messages and contacts, always seen through the visibility rule.
//!
//! **Visibility** (DESIGN.md) lives in [`visible_to`] and nowhere else: every query for
//! conversations in the product is filtered by it, so no page can forget it. Contact details
//! leave this module only through [`ContactMask`], so no page can forget masking either.

use crate::core::cursor::{self, Page};
use crate::core::ids::{ChannelId, CompanyId, ContactId, ConversationId, MessageId, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

use crate::core::masking::{ContactMask, PhoneRegion, mask_identifier, mask_text};
use crate::core::status::{ChannelKind, ConversationStatus, Direction, UserStatus};
use crate::db::fixed::Condition as Fixed;
use crate::db::schema::{
    channels, companies, contact_reveals, contacts, conversation_assignments, conversation_labels,
    conversations, messages, users,
};
use crate::db::search::{self, Vocabulary};
use crate::db::{BoxedCondition, DbConnection};
use crate::domain::{Caller, Viewer, audit, channels as channel_domain, labels, now, routing};
use crate::error::AppError;
use crate::error::FieldErrors;

crate::domain::visibility::scope_filter!(pub conversations, labelled: true);

/// A contact as one viewer may see it: phone, email and network id already masked as needed.
#[derive(Clone, Debug)]
pub struct ContactCard {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub external_id: Option<String>,
}

impl ContactCard {
    fn new(
        mask: ContactMask,
        name: String,
        phone: Option<String>,
        email: Option<String>,
        external_id: Option<String>,
    ) -> Self {
        Self {
            // WhatsApp and SMS send the number as the name when the customer set none
            name: mask.identifier(&name),
            phone: phone.map(|p| mask.phone(&p)),
            email: email.map(|e| mask.email(&e)),
            external_id: external_id.map(|x| mask.identifier(&x)),
        }
    }
}

/// The navigation's two counters, read in a page's own database hop: open conversations
/// assigned to the viewer, and unread notifications (`None`: not shown).
#[derive(Clone, Copy, Debug, Default)]
pub struct NavCounts {
    pub open: Option<i64>,
    pub unread: Option<i64>,
}

/// The inbox as one viewer read it in one database hop: a page of rows (masked for the
/// viewer), how many match (up to [`COUNT_CAP`] + 1), the navigation's counters and the
/// channels the channel filter offers.
pub struct Inbox {
    /// Its rows are shared, not copied, by each page shown from the cache.
    pub page: Page<std::sync::Arc<ConversationRow>>,
    pub matched: i64,
    pub counts: NavCounts,
    pub channels: Vec<crate::domain::channels::Channel>,
}

/// Whose inbox, under which permissions and filter: two viewers never share an entry, and a
/// role edited since reads again (masking and visibility follow the permissions).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InboxKey {
    pub user: UserId,
    pub permissions: crate::core::permissions::PermissionSet,
    /// The navigation shows the badge of open conversations.
    pub counts_open: bool,
    pub filter: ListFilter,
}

#[derive(Clone, Debug)]
pub struct ConversationRow {
    pub id: ConversationId,
    pub contact: ContactCard,
    pub channel_name: String,
    pub channel_kind: ChannelKind,
    pub assignee: Option<String>,
    /// The assignee can no longer work (deactivated or deleted): the customer waits on nobody.
    pub assignee_inactive: bool,
    pub status: ConversationStatus,
    pub last_message_at: NaiveDateTime,
    /// Since when the customer has waited for an answer, if they are waiting.
    pub awaiting_reply_since: Option<NaiveDateTime>,
}

impl ConversationRow {
    fn new(mask: ContactMask, row: StoredRow) -> Self {
        let StoredRow {
            id,
            status,
            last_message_at,
            external_contact_id,
            awaiting_reply_since,
            contact,
            channel,
            assignee,
        } = row;
        Self {
            id,
            contact: ContactCard::new(
                mask,
                contact.name,
                contact.phone,
                contact.email,
                external_contact_id,
            ),
            channel_name: channel.name,
            channel_kind: channel.kind,
            assignee_inactive: assignee.as_ref().is_some_and(|a| !a.status.is_active()),
            assignee: assignee.map(|a| a.display_name),
            status,
            last_message_at,
            awaiting_reply_since,
        }
    }
}

/// One conversation as the list reads it, before masking: the columns are named once, here.
#[derive(Queryable, Selectable)]
#[diesel(table_name = conversations)]
struct StoredRow {
    id: ConversationId,
    status: ConversationStatus,
    last_message_at: NaiveDateTime,
    external_contact_id: Option<String>,
    awaiting_reply_since: Option<NaiveDateTime>,
    #[diesel(embed)]
    contact: StoredContact,
    #[diesel(embed)]
    channel: StoredChannel,
    /// None when nobody holds the conversation (the left join found no user).
    #[diesel(embed)]
    assignee: Option<StoredAssignee>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = contacts)]
struct StoredContact {
    name: String,
    phone: Option<String>,
    email: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = channels)]
struct StoredChannel {
    name: String,
    kind: ChannelKind,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
struct StoredAssignee {
    display_name: String,
    status: UserStatus,
}

/// Filters of the conversation list (query string of `GET /conversations`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ListFilter {
    /// None for all.
    pub status: Option<ConversationStatus>,
    pub channel_id: Option<ChannelId>,
    pub assignee_id: Option<UserId>,
    /// Only conversations nobody holds (the queue).
    pub unassigned: bool,
    /// Text searched in the contact's name and the messages.
    pub q: Option<String>,
    pub label: Option<String>,
    /// Only conversations waiting for a reply since before this time (missed chats).
    pub waiting_since_before: Option<NaiveDateTime>,
    pub order: ListOrder,
    /// Keyset cursor: the (last_message_at, id) of the last row shown; the page holds the
    /// rows after it in `order`.
    pub after: Option<(NaiveDateTime, ConversationId)>,
    /// How a search finds its conversations: None (as every page asks) chooses by how many
    /// messages hold the text ([`search_plan`]); tests and benchmarks name one.
    pub search_plan: Option<SearchPlan>,
}

impl ListFilter {
    /// The text the list searches for (`q`, trimmed), if any.
    pub fn search_text(&self) -> Option<&str> {
        crate::core::text::typed(self.q.as_deref())
    }

    /// The text of a search whose plan is still to be chosen ([`search_plan`]), if any.
    pub fn unplanned_search(&self) -> Option<&str> {
        self.search_text().filter(|_| self.search_plan.is_none())
    }
}

/// The order of the conversation list, by last activity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ListOrder {
    /// Newest activity first: what just happened.
    #[default]
    Newest,
    /// Oldest activity first: the queue as it arrived, the longest untouched on top.
    Oldest,
}

impl ListOrder {
    /// `newest` or `oldest`, as the list's `sort` parameter spells it.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "newest" => Some(Self::Newest),
            "oldest" => Some(Self::Oldest),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::Oldest => "oldest",
        }
    }
}

pub const PAGE_SIZE: i64 = 50;

/// Conversations with their contact, channel and assignee: the one shape every conversation
/// page reads (always filtered by [`visible_to`]).
type Joined = diesel::dsl::LeftJoin<
    diesel::dsl::InnerJoin<
        diesel::dsl::InnerJoin<conversations::table, contacts::table>,
        channels::table,
    >,
    users::table,
>;
type VisibleRows = diesel::dsl::IntoBoxed<
    'static,
    diesel::dsl::Select<Joined, diesel::dsl::AsSelect<StoredRow, crate::db::MultiBackend>>,
    crate::db::MultiBackend,
>;

/// The conversations `viewer` may see, as rows, filtered further by the caller.
fn visible_rows(conn: &mut DbConnection, viewer: &Viewer) -> Result<VisibleRows, AppError> {
    Ok(rows_where(visible_to(conn, viewer)?))
}

/// The conversations as rows, where `condition` holds (one that includes [`visible_to`]).
fn rows_where<C>(condition: C) -> VisibleRows
where
    VisibleRows: diesel::query_dsl::methods::FilterDsl<C, Output = VisibleRows>,
{
    conversations::table
        .inner_join(contacts::table)
        .inner_join(channels::table)
        .left_join(users::table)
        .select(StoredRow::as_select())
        .into_boxed()
        .filter(condition)
}

/// The visible conversations, newest activity first, one page at a time.
pub fn list(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &ListFilter,
) -> Result<Vec<ConversationRow>, AppError> {
    list_page(conn, viewer, filter, PAGE_SIZE)
}

/// `filter` with its search plan chosen ([`search_plan`]) when it searches and names none, so
/// that the queries of one read (a page and its count) search the same way and choose once.
fn with_search_plan<'f>(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &'f ListFilter,
) -> Result<std::borrow::Cow<'f, ListFilter>, AppError> {
    Ok(match filter.unplanned_search() {
        Some(q) => std::borrow::Cow::Owned(ListFilter {
            search_plan: Some(search_plan(conn, viewer, q)?),
            ..filter.clone()
        }),
        None => std::borrow::Cow::Borrowed(filter),
    })
}

/// `list` with another page size (exports read a thousand rows at a time).
pub fn list_page(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &ListFilter,
    limit: i64,
) -> Result<Vec<ConversationRow>, AppError> {
    let rows: Vec<StoredRow> = page_query(conn, viewer, filter, limit)?.load(conn)?;
    let mask = viewer.contact_mask();
    Ok(rows
        .into_iter()
        .map(|row| ConversationRow::new(mask, row))
        .collect())
}

/// `query` in the list's `order`: by last activity, then id.
fn in_list_order<Q>(query: Q, order: ListOrder) -> Q
where
    Q: diesel::query_dsl::methods::OrderDsl<
            (
                diesel::dsl::Desc<conversations::last_message_at>,
                diesel::dsl::Desc<conversations::id>,
            ),
            Output = Q,
        > + diesel::query_dsl::methods::OrderDsl<
            (
                diesel::dsl::Asc<conversations::last_message_at>,
                diesel::dsl::Asc<conversations::id>,
            ),
            Output = Q,
        >,
{
    match order {
        ListOrder::Newest => query.order((
            conversations::last_message_at.desc(),
            conversations::id.desc(),
        )),
        ListOrder::Oldest => query.order((
            conversations::last_message_at.asc(),
            conversations::id.asc(),
        )),
    }
}

/// The query of one page: the matches in the list's order, from the cursor on.
fn page_query(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &ListFilter,
    limit: i64,
) -> Result<VisibleRows, AppError> {
    let query = in_list_order(matching(conn, viewer, filter)?.limit(limit), filter.order);
    // `<= at` (`>= at`) bounds the index range; the rest drops the rows of `at` up to `id`
    Ok(match (filter.after, filter.order) {
        (None, _) => query,
        (Some((at, id)), ListOrder::Newest) => {
            query.filter(conversations::last_message_at.le(at)).filter(
                conversations::last_message_at
                    .lt(at)
                    .or(conversations::id.lt(id)),
            )
        }
        (Some((at, id)), ListOrder::Oldest) => {
            query.filter(conversations::last_message_at.ge(at)).filter(
                conversations::last_message_at
                    .gt(at)
                    .or(conversations::id.gt(id)),
            )
        }
    })
}

/// The list counts the conversations its filters match up to this; past it, it says "more
/// than" (a count the page can afford at any size).
pub const COUNT_CAP: i64 = 1_000;

/// A page of the list and how many conversations its filters match on all pages, counted up
/// to [`COUNT_CAP`] (`COUNT_CAP + 1` means more).
pub fn list_counted(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &ListFilter,
) -> Result<(Page<ConversationRow>, i64), AppError> {
    // the page and its count search the same way, chosen once
    let filter = &with_search_plan(conn, viewer, filter)?;
    let counted = if filter.search_plan == Some(SearchPlan::FromMatches) {
        match cut_from_the_count(conn, viewer, filter)? {
            Cut::Page(page, count) => return Ok((page, count)),
            Cut::Past(count) => Some(count),
        }
    } else {
        None
    };
    let read = list_page(conn, viewer, filter, cursor::rows_to_read(PAGE_SIZE))?;
    let page = Page::of(read, PAGE_SIZE);
    // a first page with no next one holds every match: no second query
    let count = match counted {
        Some(count) => count,
        None if filter.after.is_none() && !page.more => page.rows.len() as i64,
        None => {
            let keys: Vec<ListKey> = count_query(conn, viewer, filter)?.load(conn)?;
            keys.len() as i64
        }
    };
    Ok((page, count))
}

/// What [`cut_from_the_count`] made of the count's keys: the page and the count, or the count
/// alone when the page lies past the keys it read.
enum Cut {
    Page(Page<ConversationRow>, i64),
    Past(i64),
}

/// Where a conversation stands in the list: its last activity and its id.
type ListKey = (NaiveDateTime, ConversationId);

/// The page and its count from one read of the matches, for a search read from its matches
/// (whose every query reads them all before its first row): the count's keys, in the list's
/// order, hold the page, whose rows are then read by id. The count alone when the page
/// reaches past the keys the count read (a page deep in more than [`COUNT_CAP`] matches),
/// so that it is not read again.
fn cut_from_the_count(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &ListFilter,
) -> Result<Cut, AppError> {
    let keys: Vec<ListKey> = count_query(conn, viewer, filter)?.load(conn)?;
    let Some(held) = page_of_keys(&keys, filter.order, filter.after) else {
        return Ok(Cut::Past(keys.len() as i64));
    };
    let ids: Vec<ConversationId> = keys[held].iter().map(|key| key.1).collect();
    let rows: Vec<StoredRow> = in_list_order(
        visible_rows(conn, viewer)?.filter(conversations::id.eq_any(ids)),
        filter.order,
    )
    .load(conn)?;
    let mask = viewer.contact_mask();
    let rows = rows
        .into_iter()
        .map(|row| ConversationRow::new(mask, row))
        .collect();
    Ok(Cut::Page(Page::of(rows, PAGE_SIZE), keys.len() as i64))
}

/// Which of the count's `keys` (the matches' first, in the list's `order`) a page after the
/// cursor `after` reads, with the row past it: `None` when they stop before it does (the
/// count stopped at its cap).
fn page_of_keys(
    keys: &[ListKey],
    order: ListOrder,
    after: Option<ListKey>,
) -> Option<std::ops::Range<usize>> {
    let start = after.map_or(0, |cursor| {
        // the keys up to the cursor come first
        keys.partition_point(|&key| match order {
            ListOrder::Newest => key >= cursor,
            ListOrder::Oldest => key <= cursor,
        })
    });
    let wanted = usize::try_from(cursor::rows_to_read(PAGE_SIZE)).unwrap_or(usize::MAX);
    let all_read = keys.len() as i64 <= COUNT_CAP;
    (all_read || keys.len() - start >= wanted).then(|| start..keys.len().min(start + wanted))
}

type KeysQuery = diesel::dsl::IntoBoxed<
    'static,
    diesel::dsl::Select<conversations::table, (conversations::last_message_at, conversations::id)>,
    crate::db::MultiBackend,
>;

/// At most COUNT_CAP + 1 keys of the matches, in the page's order: read from the index the
/// page uses.
fn count_query(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &ListFilter,
) -> Result<KeysQuery, AppError> {
    let condition = matching_condition(conn, viewer, filter)?;
    let keys = conversations::table
        .select((conversations::last_message_at, conversations::id))
        .into_boxed()
        .filter(condition)
        .limit(COUNT_CAP + 1);
    Ok(in_list_order(keys, filter.order))
}

/// How the database runs the list's page and its count for `viewer` and `filter`, for
/// benchmarks and the index test.
pub fn explain_list(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &ListFilter,
) -> Result<Vec<(&'static str, String)>, AppError> {
    let planned = with_search_plan(conn, viewer, filter)?;
    let page = page_query(conn, viewer, &planned, cursor::rows_to_read(PAGE_SIZE))?;
    let count = count_query(conn, viewer, &planned)?;
    let mut plans = vec![
        ("page", crate::db::explain::explain(conn, page)?),
        ("count", crate::db::explain::explain(conn, count)?),
    ];
    if planned.search_plan == Some(SearchPlan::FromMatches) {
        // the page cut from the count's keys, read by id
        let read = usize::try_from(cursor::rows_to_read(PAGE_SIZE)).unwrap_or(1);
        let some = vec![ConversationId(0); read];
        let by_id = in_list_order(
            visible_rows(conn, viewer)?.filter(conversations::id.eq_any(some)),
            planned.order,
        );
        plans.push(("page by id", crate::db::explain::explain(conn, by_id)?));
    }
    // a search first judges how common its text is
    if let Some(q) = filter.search_text() {
        let masked = viewer.contact_mask().is_masked();
        for (name, searched) in [
            ("search sample of messages", Searched::Messages),
            ("search sample of contacts", Searched::Contacts),
        ] {
            let sample = searched.sample(conn, viewer.company_id, masked, q);
            plans.push((name, sample.explain(conn)?));
        }
    }
    Ok(plans)
}

/// The visible conversations the filters of the list match (all but its order and cursor),
/// as rows.
fn matching(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &ListFilter,
) -> Result<VisibleRows, AppError> {
    Ok(rows_where(matching_condition(conn, viewer, filter)?))
}

/// What the list's filters ask of a conversation, the visibility rule ([`visible_to`]) first:
/// one condition for the page (which joins each conversation's contact, channel and
/// assignee) and for its count (which reads the conversations alone, so that counting a
/// thousand matches reads no contact).
fn matching_condition<QS>(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &ListFilter,
) -> Result<BoxedCondition<QS>, AppError>
where
    QS: 'static,
    conversations::id: SelectableExpression<QS>,
    conversations::company_id: SelectableExpression<QS>,
    conversations::channel_id: SelectableExpression<QS>,
    conversations::status: SelectableExpression<QS>,
    conversations::assignee_id: SelectableExpression<QS>,
    conversations::awaiting_reply_since: SelectableExpression<QS>,
{
    let mut condition: BoxedCondition<QS> = visible_to(conn, viewer)?;
    if let Some(status) = filter.status {
        condition = Box::new(condition.and(conversations::status.eq(status)));
    }
    if let Some(channel_id) = filter.channel_id {
        condition = Box::new(condition.and(conversations::channel_id.eq(channel_id)));
    }
    if filter.unassigned {
        condition = Box::new(condition.and(conversations::assignee_id.is_null()));
    }
    if let Some(assignee_id) = filter.assignee_id {
        // program text where diesel's column would make the condition nullable
        let theirs = Fixed::sql("conversations.assignee_id = ").int(assignee_id.0);
        condition = Box::new(condition.and(theirs));
    }
    if let Some(q) = filter.search_text() {
        let plan = match filter.search_plan {
            Some(plan) => plan,
            None => search_plan(conn, viewer, q)?,
        };
        let SearchCondition {
            sql: [open, after_company, between, after_company_again, close],
            text: [first, second],
        } = SearchCondition::new(conn, viewer, q, plan)?;
        condition = Box::new(
            condition.and(
                diesel::dsl::sql::<Bool>(&open)
                    .bind::<BigInt, _>(viewer.company_id.0)
                    .sql(&after_company)
                    .bind::<Text, _>(first)
                    .sql(&between)
                    .bind::<BigInt, _>(viewer.company_id.0)
                    .sql(&after_company_again)
                    .bind::<Text, _>(second)
                    .sql(&close),
            ),
        );
    }
    if let Some(label) = crate::core::text::typed(filter.label.as_deref()) {
        // program text: diesel checks a subselect against one query source, and this serves two
        let labelled = Fixed::sql(
            "conversations.id IN (SELECT labelled.conversation_id FROM conversation_labels \
             labelled WHERE labelled.company_id = ",
        )
        .int(viewer.company_id.0)
        .then(" AND labelled.label = ")
        .text(label.to_lowercase())
        .then(")");
        condition = Box::new(condition.and(labelled));
    }
    if let Some(before) = filter.waiting_since_before {
        let waiting = Fixed::sql("conversations.awaiting_reply_since < ").time(before);
        condition = Box::new(condition.and(waiting));
    }
    Ok(condition)
}

/// How a search (`q=`) finds its conversations. Both find the same ones, those whose contact's
/// name or one of whose messages holds the text in any case (tests hold both to a scan of the
/// text, on both databases); they differ in what they cost, which [`search_plan`] weighs.
/// A masked viewer's search reads the masked copies in both, so no hit can confirm a number or
/// an address they cannot see, however the query is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SearchPlan {
    /// From the matches: the matching contacts and messages, read from the trigram indexes
    /// (SQLite's FTS5 tables of migration 10, PostgreSQL's `pg_trgm` indexes), then their
    /// conversations, sorted. Costs what the matches are many: the plan for text few messages
    /// hold.
    FromMatches,
    /// Along the list: the conversations in the list's order, each asked whether its contact
    /// or one of its messages holds the text (through the messages' conversation index),
    /// until the page is full. Costs what the conversations asked hold: the plan for text
    /// many messages hold, which the first conversations asked hold too.
    AlongTheList,
}

/// How many of the newest matching messages (or contacts) [`search_plan`] reads to judge how
/// common the text is.
pub const SEARCH_SAMPLE: i64 = 200;

/// Text that at least one in this many of the company's recent messages (or contacts' names)
/// hold is searched along the list. There, a conversation holds it with good odds, so the
/// list's page (and its count, up to [`COUNT_CAP`]) is found in a few thousand conversations
/// asked; from the matches, it costs what the matches are many (at 300 000 messages, 80 ms on
/// SQLite and 300 ms on PostgreSQL for a word in one message of six).
pub const COMMON_ONE_IN: i64 = 20;

/// The plan for a search of `q` by `viewer` (the trimmed, non-empty text), from two bounded
/// reads of the company's newest `SEARCH_SAMPLE × COMMON_ONE_IN` messages and contacts:
/// - along the list when the text is common there (at least [`SEARCH_SAMPLE`] hold it);
/// - along the list when the company has fewer rows than that: it then reads only its own,
///   where from the matches it would read every company's (the trigram indexes hold them all),
///   take longer the more another company's messages hold the text, and so show it;
/// - from the matches otherwise (rare text, text of old messages only).
///
/// Text of one or two characters is read from its matches through the indexes of migration 29
/// (on SQLite, the trigrams that begin with it). On SQLite, text with letters its trigram
/// tables fold unlike the program (Cherokee, Georgian capitals: not Latin, Greek, Cyrillic or
/// Armenian ones, [`search::folds_alike`]) is read from the matches: the two plans must find
/// the same conversations.
pub fn search_plan(
    conn: &mut DbConnection,
    viewer: &Viewer,
    q: &str,
) -> Result<SearchPlan, AppError> {
    if matches!(conn, DbConnection::Sqlite(_)) && !search::folds_alike(q) {
        return Ok(SearchPlan::FromMatches);
    }
    let masked = viewer.contact_mask().is_masked();
    let mut small = true;
    for searched in [Searched::Messages, Searched::Contacts] {
        let sample = searched.sample_of(conn, viewer.company_id, masked, q)?;
        if sample.held >= SEARCH_SAMPLE {
            return Ok(SearchPlan::AlongTheList);
        }
        small &= sample.seen < SEARCH_SAMPLE * COMMON_ONE_IN;
    }
    // a company with fewer rows than the sample is read whole along its list, in a few
    // milliseconds: from the matches it would read every company's (the trigram indexes hold
    // them all), and take longer the more another company's messages hold the text
    Ok(if small {
        SearchPlan::AlongTheList
    } else {
        SearchPlan::FromMatches
    })
}

/// What [`search_plan`]'s sample of a company's newest rows found: how many it read (fewer
/// than asked when the company has fewer), and how many of them hold the text.
#[derive(QueryableByName)]
struct Sample {
    #[diesel(sql_type = BigInt)]
    seen: i64,
    #[diesel(sql_type = BigInt)]
    held: i64,
}

/// What a search reads besides the conversations, for [`search_plan`]'s sample.
#[derive(Clone, Copy)]
enum Searched {
    Messages,
    Contacts,
}

impl Searched {
    /// How many of the company's newest `SEARCH_SAMPLE × COMMON_ONE_IN` rows there are and
    /// hold `q` (in the column a viewer searches): a bounded read, through the index of the
    /// company's rows in order, whatever the text and however large the company or the
    /// database.
    fn sample_of(
        self,
        conn: &mut DbConnection,
        company: CompanyId,
        masked: bool,
        q: &str,
    ) -> Result<Sample, AppError> {
        let sample = self.sample(conn, company, masked, q);
        Ok(sample
            .load::<Sample>(conn)?
            .into_iter()
            .next()
            .unwrap_or(Sample { seen: 0, held: 0 }))
    }

    /// The sample's statement: of the company's newest `SEARCH_SAMPLE × COMMON_ONE_IN` rows,
    /// how many there are (`seen`) and how many hold `q` (`held`).
    fn sample(
        self,
        conn: &DbConnection,
        company: CompanyId,
        masked: bool,
        q: &str,
    ) -> crate::db::raw::RawSql {
        // each its own literal: what a viewer searches, the company's newest rows first
        let rows: &'static str = match (self, masked) {
            (Self::Messages, false) => "SELECT body AS searched FROM messages WHERE company_id = ",
            (Self::Messages, true) => {
                "SELECT body_masked AS searched FROM messages WHERE company_id = "
            }
            (Self::Contacts, false) => "SELECT name AS searched FROM contacts WHERE company_id = ",
            (Self::Contacts, true) => {
                "SELECT name_masked AS searched FROM contacts WHERE company_id = "
            }
        };
        let newest_first = match self {
            Self::Messages => " ORDER BY created_at DESC, id DESC LIMIT ",
            Self::Contacts => " ORDER BY id DESC LIMIT ",
        };
        // an estimate: ASCII text is compared as SQLite's LIKE compares it
        let (before, after) = search::sample_like_around(conn, q);
        let mut sample = crate::db::raw::RawSql::new(conn);
        sample
            .sql("SELECT count(*) AS seen, coalesce(sum(CASE WHEN ")
            .sql(before)
            .sql("recent.searched")
            .sql(after)
            .text(&search::search_pattern(conn, q))
            .sql(") ESCAPE '\\' THEN 1 ELSE 0 END), 0) AS held FROM (")
            .sql(rows)
            .int(company.0)
            .sql(newest_first)
            .int(SEARCH_SAMPLE * COMMON_ONE_IN)
            .sql(") recent");
        sample
    }
}

/// The condition a search puts on the list, as SQL around four bound values: the company,
/// the text, the company, the text (`sql[0]`, company, `sql[1]`, `text[0]`, `sql[2]`, …).
/// One shape for every plan, so that `matching` binds them the same way.
struct SearchCondition {
    sql: [String; 5],
    text: [String; 2],
}

impl SearchCondition {
    /// The condition of a search of `q` by `viewer`, as `plan` finds its conversations. The
    /// company is named in each part, beside the visibility rule that names it too.
    fn new(
        conn: &mut DbConnection,
        viewer: &Viewer,
        q: &str,
        plan: SearchPlan,
    ) -> Result<Self, AppError> {
        // program literals only: which columns a viewer searches
        let (name, body) = if viewer.contact_mask().is_masked() {
            ("name_masked", "body_masked")
        } else {
            ("name", "body")
        };
        let pattern = search::search_pattern(conn, q);
        let named_holds = search::case_blind_like(conn, &format!("named.{name}"), q);
        let held_holds = search::case_blind_like(conn, &format!("held.{body}"), q);
        Ok(match (plan, search::indexed_phrase(conn, q)) {
            (SearchPlan::AlongTheList, _) => {
                // PostgreSQL would turn either question into a hash of every match, read
                // before the first row (200 ms and more for a common word at 300 000
                // messages); fenced (`OFFSET 0`), each is asked of the conversations as they
                // come, in the list's order
                let fence = match conn {
                    DbConnection::Sqlite(_) => "",
                    DbConnection::Postgres(_) => " OFFSET 0",
                };
                Self {
                    sql: [
                        "(EXISTS (SELECT 1 FROM contacts named \
                         WHERE named.id = conversations.contact_id AND named.company_id = "
                            .into(),
                        format!(" AND {named_holds}"),
                        format!(
                            ") ESCAPE '\\'{fence}) OR EXISTS (SELECT 1 FROM messages held \
                             WHERE held.company_id = "
                        ),
                        format!(" AND held.conversation_id = conversations.id AND {held_holds}"),
                        format!(") ESCAPE '\\'{fence}))"),
                    ],
                    text: [pattern.clone(), pattern],
                }
            }
            // SQLite's trigram tables
            (SearchPlan::FromMatches, Some(phrase)) => {
                Self::from_trigram_tables((name, body), [phrase.clone(), phrase])
            }
            // PostgreSQL's trigram indexes serve LIKE as it is: the matching contacts and the
            // conversations of the matching messages, each read first as a list of ids, then
            // the conversations of either from their indexes at once (`BitmapOr`); a union of
            // the two read the matching contacts' conversations twice (40 ms, not 24, for a
            // name 11 000 contacts hold)
            (SearchPlan::FromMatches, None)
                if matches!(conn, DbConnection::Postgres(_)) && search::has_trigrams(q) =>
            {
                Self {
                    sql: [
                        "(conversations.contact_id = ANY(ARRAY(SELECT named.id FROM contacts \
                         named WHERE named.company_id = "
                            .into(),
                        format!(" AND {named_holds}"),
                        ") ESCAPE '\\')) OR conversations.id = ANY(ARRAY(SELECT \
                         held.conversation_id FROM messages held WHERE held.company_id = "
                            .into(),
                        format!(" AND {held_holds}"),
                        ") ESCAPE '\\')))".into(),
                    ],
                    text: [pattern.clone(), pattern],
                }
            }
            // short text: PostgreSQL's indexes of every character and pair (migration 29)
            // narrow the matches, and search_holds decides
            (SearchPlan::FromMatches, None) if matches!(conn, DbConnection::Postgres(_)) => Self {
                sql: [
                    "(conversations.contact_id = ANY(ARRAY(SELECT named.id FROM contacts \
                         named WHERE named.company_id = "
                        .into(),
                    format!(" AND search_holds(lower(named.{name}), lower("),
                    ")))) OR conversations.id = ANY(ARRAY(SELECT held.conversation_id \
                         FROM messages held WHERE held.company_id = "
                        .into(),
                    format!(" AND search_holds(lower(held.{body}), lower("),
                    ")))))".into(),
                ],
                text: [q.into(), q.into()],
            },
            // short text on SQLite: the trigrams that begin with it, when it is rare enough
            (SearchPlan::FromMatches, None) => {
                let short = match search::short_text_range(q) {
                    Some((from, to)) => {
                        let range = (from.as_str(), to.as_str());
                        let contacts = Vocabulary {
                            table: "contacts_search_terms",
                            column: name,
                        };
                        let messages = Vocabulary {
                            table: "messages_search_terms",
                            column: body,
                        };
                        search::short_text_query(conn, contacts, range)?
                            .zip(search::short_text_query(conn, messages, range)?)
                    }
                    None => None,
                };
                match short {
                    Some((contacts, messages)) => {
                        Self::from_trigram_tables((name, body), [contacts, messages])
                    }
                    None => Self::scan(named_holds, held_holds, pattern),
                }
            }
        })
    }

    /// From SQLite's trigram tables: the conversations whose contact's `name` column matches
    /// the first FTS5 query, or one of whose messages' `body` column matches the second.
    fn from_trigram_tables((name, body): (&str, &str), queries: [String; 2]) -> Self {
        Self {
            sql: [
                "conversations.id IN (SELECT found.id FROM conversations found \
                 WHERE found.company_id = "
                    .into(),
                format!(
                    " AND found.contact_id IN (SELECT rowid FROM contacts_search \
                     WHERE contacts_search.{name} MATCH "
                ),
                ") UNION SELECT held.conversation_id FROM messages held \
                 WHERE held.company_id = "
                    .into(),
                format!(
                    " AND held.id IN (SELECT rowid FROM messages_search \
                     WHERE messages_search.{body} MATCH "
                ),
                "))".into(),
            ],
            text: queries,
        }
    }

    /// A scan of the company's contacts and messages on SQLite, each asked `named_holds` and
    /// `held_holds` (LIKE `pattern`): for text its trigram tables do not narrow (short text
    /// they fold unlike the program, text holding their end, short text in too many trigrams).
    fn scan(named_holds: String, held_holds: String, pattern: String) -> Self {
        Self {
            sql: [
                "conversations.id IN (SELECT found.id FROM conversations found \
                 JOIN contacts named ON named.id = found.contact_id \
                 WHERE found.company_id = "
                    .into(),
                format!(" AND {named_holds}"),
                ") ESCAPE '\\' UNION SELECT held.conversation_id FROM messages held \
                 WHERE held.company_id = "
                    .into(),
                format!(" AND {held_holds}"),
                ") ESCAPE '\\')".into(),
            ],
            text: [pattern.clone(), pattern],
        }
    }
}

/// The delivery of a broadcast's message: sent to the customer, but no answer to them.
pub const BROADCAST_DELIVERY: &str = "broadcast";

/// A message as it is stored. [`NewMessage::insert`] adds the copy a masked viewer sees and
/// searches, so no writer can forget it.
#[derive(Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage<'a> {
    pub company_id: CompanyId,
    pub conversation_id: ConversationId,
    pub channel_id: ChannelId,
    pub direction: Direction,
    pub author_id: Option<UserId>,
    pub body: &'a str,
    pub external_id: Option<&'a str>,
    pub delivery: &'a str,
    pub created_at: NaiveDateTime,
}

impl NewMessage<'_> {
    /// Stores the message and its masked copy, read with the company's phone region as it
    /// stands in this transaction (a region change rebuilds the copies).
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<MessageId> {
        let region: String = companies::table
            .find(self.company_id)
            .select(companies::phone_region)
            .first(conn)?;
        let masked = mask_text(self.body, PhoneRegion::from_stored(&region));
        let id = diesel::insert_into(messages::table)
            .values((self, messages::body_masked.eq(Some(masked))))
            .returning(messages::id)
            .get_result(conn)?;
        if self.direction == Direction::Outbound && self.delivery != BROADCAST_DELIVERY {
            // the first answer to the customer, for the reports' first-response times (a
            // broadcast answers nobody)
            diesel::update(conversations::table.find(self.conversation_id))
                .filter(conversations::first_response_at.is_null())
                .set((
                    conversations::first_response_at.eq(Some(self.created_at)),
                    conversations::first_responder_id.eq(self.author_id),
                ))
                .execute(conn)?;
        }
        Ok(id)
    }
}

#[derive(Clone, Debug)]
pub struct MessageView {
    pub direction: Direction,
    pub author: Option<String>,
    pub body: String,
    pub created_at: NaiveDateTime,
    /// Set when writing it reopened a closed conversation (a reply to the customer does).
    pub reopened: bool,
}

/// (from, to, by, when) of one assignment change.
type AssignmentRow = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    NaiveDateTime,
    Option<String>,
);

pub struct AssignmentView {
    pub from: Option<String>,
    pub to: Option<String>,
    pub by: Option<String>,
    pub at: NaiveDateTime,
    /// Routing's reason, for automatic assignments and the queue.
    pub reason: Option<String>,
}

pub struct ConversationDetail {
    pub row: ConversationRow,
    pub channel_id: ChannelId,
    /// For the data-subject links (export, erase) of `privacy.manage` holders.
    pub contact_id: ContactId,
    /// The window's messages, oldest first.
    pub messages: MessagePage,
    pub history: Vec<AssignmentView>,
    pub labels: Vec<String>,
}

/// How many messages a conversation page shows as it opens, and each step back through the
/// earlier ones: a long conversation is read in steps, never whole.
pub const MESSAGES_SHOWN: i64 = 200;

/// The most messages an open page's live update carries (those since the page opened).
const LIVE_MESSAGES_MAX: i64 = 1000;

/// Which of a conversation's messages are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageWindow {
    /// The latest `MESSAGES_SHOWN`: a page as it opens.
    Latest,
    /// This message and those after it: an open page's live updates keep the window the page
    /// opened with, so a new message never pushes one out of sight.
    From(MessageId),
    /// The `MESSAGES_SHOWN` before this message: a step back.
    Before(MessageId),
}

/// Some of a conversation's messages, oldest first.
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    /// The first message shown (where the next step back starts, and where live updates do).
    pub first: Option<MessageId>,
    /// Whether messages before `first` exist (for `Latest` and `Before`).
    pub earlier: bool,
}

impl MessagePage {
    /// Where the step back to earlier messages starts, when there are any.
    pub fn step_back(&self) -> Option<MessageId> {
        self.first.filter(|_| self.earlier)
    }
}

/// The statement that reads conversation `id`'s messages in `window`, newest first, one more
/// than shown (whether there are earlier ones, without counting them), and how many are shown.
macro_rules! messages_query {
    ($id:expr, $window:expr) => {{
        let mut query = messages::table
            .left_join(users::table.on(users::id.nullable().eq(messages::author_id)))
            .filter(messages::conversation_id.eq($id))
            .order(messages::id.desc())
            .select((
                messages::id,
                messages::direction,
                users::display_name.nullable(),
                messages::body,
                messages::created_at,
            ))
            .into_boxed();
        let shown = match $window {
            MessageWindow::Latest => MESSAGES_SHOWN,
            MessageWindow::From(from) => {
                query = query.filter(messages::id.ge(from));
                LIVE_MESSAGES_MAX
            }
            MessageWindow::Before(before) => {
                query = query.filter(messages::id.lt(before));
                MESSAGES_SHOWN
            }
        };
        (query.limit(shown + 1), shown)
    }};
}

/// How the database reads a window of a conversation's messages (the index test).
pub fn explain_messages(
    conn: &mut DbConnection,
    id: ConversationId,
    window: MessageWindow,
) -> Result<String, AppError> {
    let (query, _) = messages_query!(id, window);
    Ok(crate::db::explain::explain(conn, query)?)
}

/// The messages of conversation `id` in `window`, masked by `mask` (keyset on the
/// conversation's (conversation_id, id) index, so a step back costs what the first page does).
fn messages_in(
    conn: &mut DbConnection,
    mask: &crate::core::masking::ContactMask,
    id: ConversationId,
    window: MessageWindow,
) -> Result<MessagePage, AppError> {
    let (query, shown) = messages_query!(id, window);
    let mut rows =
        query.load::<(MessageId, Direction, Option<String>, String, NaiveDateTime)>(conn)?;
    let earlier = rows.len() > usize::try_from(shown).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(shown).unwrap_or(usize::MAX));
    rows.reverse();
    Ok(MessagePage {
        first: rows.first().map(|row| row.0),
        earlier,
        messages: rows
            .into_iter()
            // a customer may write their own number or address into a message
            .map(|(_, direction, author, body, created_at)| MessageView {
                direction,
                author,
                body: mask.text(&body),
                created_at,
                reopened: false,
            })
            .collect(),
    })
}

/// The `MESSAGES_SHOWN` messages before `before` (the latest without it) of a conversation
/// the viewer may see (else 404): a step back through a long conversation.
pub fn messages_before(
    conn: &mut DbConnection,
    viewer: &Viewer,
    conversation_id: ConversationId,
    before: Option<MessageId>,
) -> Result<MessagePage, AppError> {
    let target = visible_target(conn, viewer, conversation_id)?;
    let window = before.map_or(MessageWindow::Latest, MessageWindow::Before);
    messages_in(conn, &viewer.contact_mask(), target.id, window)
}

fn visible_row(
    conn: &mut DbConnection,
    viewer: &Viewer,
    conversation_id: ConversationId,
) -> Result<StoredRow, AppError> {
    Ok(visible_rows(conn, viewer)?
        .filter(conversations::id.eq(conversation_id))
        .first(conn)?)
}

/// One visible conversation's row (contact masked for the viewer), without its timeline; 404
/// as `get`.
pub fn row(
    conn: &mut DbConnection,
    viewer: &Viewer,
    conversation_id: ConversationId,
) -> Result<ConversationRow, AppError> {
    let row = visible_row(conn, viewer, conversation_id)?;
    Ok(ConversationRow::new(viewer.contact_mask(), row))
}

/// One visible conversation with its timeline, or 404 (missing, other company, not visible).
pub fn get(
    conn: &mut DbConnection,
    viewer: &Viewer,
    conversation_id: ConversationId,
    window: MessageWindow,
) -> Result<ConversationDetail, AppError> {
    let row = visible_row(conn, viewer, conversation_id)?;
    let id = row.id;
    let mask = viewer.contact_mask();
    let messages = messages_in(conn, &mask, id, window)?;
    let (channel_id, contact_id): (ChannelId, ContactId) = conversations::table
        .find(id)
        .select((conversations::channel_id, conversations::contact_id))
        .first(conn)?;
    let assignments: Vec<AssignmentRow> = conversation_assignments::table
        .filter(conversation_assignments::conversation_id.eq(id))
        .order(conversation_assignments::id)
        .select((
            conversation_assignments::from_user_id,
            conversation_assignments::to_user_id,
            conversation_assignments::by_user_id,
            conversation_assignments::created_at,
            conversation_assignments::reason,
        ))
        .load(conn)?;
    let people: Vec<i64> = assignments
        .iter()
        .flat_map(|(a, b, c, _, _)| [*a, *b, *c])
        .flatten()
        .collect();
    let names: Vec<(i64, String)> = users::table
        .filter(users::id.eq_any(&people))
        .select((users::id, users::display_name))
        .load(conn)?;
    let name = |id: Option<i64>| {
        id.and_then(|id| {
            names
                .iter()
                .find(|(n, _)| *n == id)
                .map(|(_, name)| name.clone())
        })
    };
    let history = assignments
        .into_iter()
        .map(|(from, to, by, at, reason)| AssignmentView {
            from: name(from),
            to: name(to),
            by: name(by),
            at,
            reason,
        })
        .collect();
    // as first written (labels keep their case for display)
    let labels = crate::db::schema::labels::table
        .filter(
            crate::db::schema::labels::id.nullable().eq_any(
                conversation_labels::table
                    .filter(conversation_labels::conversation_id.eq(id))
                    .select(conversation_labels::label_id),
            ),
        )
        .order(crate::db::schema::labels::key)
        .select(crate::db::schema::labels::name)
        .load(conn)?;
    Ok(ConversationDetail {
        row: ConversationRow::new(mask, row),
        channel_id,
        contact_id,
        messages,
        history,
        labels,
    })
}

/// The navigation's two badges in one statement (every page shows them; on PostgreSQL each
/// statement is a round trip): how many open conversations the viewer may see are assigned
/// to them, and how many of their notifications are unread (`notifications::unread_of`).
pub fn open_assigned_and_unread(
    conn: &mut DbConnection,
    viewer: &Viewer,
) -> Result<(i64, i64), AppError> {
    let visible = visible_to(conn, viewer)?;
    let open = conversations::table
        .filter(visible)
        .filter(conversations::assignee_id.eq(Some(viewer.user_id)))
        .filter(conversations::status.eq(ConversationStatus::Open))
        .count()
        .single_value();
    let unread = crate::domain::notifications::unread_of(viewer.user_id)
        .count()
        .single_value();
    let (open, unread): (Option<i64>, Option<i64>) =
        diesel::select((open, unread)).get_result(conn)?;
    Ok((open.unwrap_or(0), unread.unwrap_or(0)))
}

/// The longest reply accepted.
pub const MAX_BODY: usize = 4000;

/// What a change to one conversation needs to know about it (after the visibility check).
struct Target {
    id: ConversationId,
    channel_id: ChannelId,
    contact_id: ContactId,
    assignee_id: Option<UserId>,
    status: ConversationStatus,
}

/// The conversation if the viewer may see it, else 404: every action starts here.
fn visible_target(
    conn: &mut DbConnection,
    viewer: &Viewer,
    conversation_id: ConversationId,
) -> Result<Target, AppError> {
    let visible = visible_to(conn, viewer)?;
    let (id, channel_id, contact_id, assignee_id, status) = conversations::table
        .filter(visible)
        .filter(conversations::id.eq(conversation_id))
        .select((
            conversations::id,
            conversations::channel_id,
            conversations::contact_id,
            conversations::assignee_id,
            conversations::status,
        ))
        .first::<(
            ConversationId,
            ChannelId,
            ContactId,
            Option<UserId>,
            ConversationStatus,
        )>(conn)?;
    Ok(Target {
        id,
        channel_id,
        contact_id,
        assignee_id,
        status,
    })
}

impl Target {
    /// The activity record of a change to this conversation.
    fn record(
        &self,
        conn: &mut DbConnection,
        me: &Caller,
        action: &'static str,
        summary: String,
    ) -> Result<(), AppError> {
        audit::Entry::new(me.company_id, &me.actor, action)
            .on("conversation", self.id, &format!("#{}", self.id))
            .saying(summary)
            .write(conn)
    }
}

/// What an agent writes into a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writing {
    /// To the customer: queued for the channel (sending to the networks is outside this product).
    Reply,
    /// For colleagues only: never sent, does not answer the customer.
    Note,
}

/// Appends a reply or an internal note. Returns the message as the viewer sees it.
pub fn reply(
    conn: &mut DbConnection,
    me: &Caller,
    conversation_id: ConversationId,
    body: &str,
    kind: Writing,
) -> Result<MessageView, AppError> {
    let viewer = &me.viewer;
    let target = visible_target(conn, viewer, conversation_id)?;
    let body = body.trim();
    let mut errors = FieldErrors::default();
    if body.is_empty() {
        errors.add("body", "Write a message first.");
    } else if !crate::core::text::storable(body) {
        errors.add("body", "A message cannot hold a NUL character.");
    } else if body.chars().count() > MAX_BODY {
        errors.add(
            "body",
            format!("A message is at most {MAX_BODY} characters."),
        );
    }
    errors.into_result()?;
    let (direction, delivery, action, what) = match kind {
        Writing::Reply => (
            Direction::Outbound,
            "queued",
            "conversation.reply",
            "reply queued",
        ),
        Writing::Note => (
            Direction::Note,
            "internal",
            "conversation.note",
            "internal note added",
        ),
    };
    let at = now();
    NewMessage {
        company_id: viewer.company_id,
        conversation_id: target.id,
        channel_id: target.channel_id,
        direction,
        author_id: Some(viewer.user_id),
        body,
        external_id: None,
        delivery,
        created_at: at,
    }
    .insert(conn)?;
    // a reply to the customer reopens a closed conversation: the exchange is live again
    let reopened = kind == Writing::Reply && target.status == ConversationStatus::Closed;
    if kind == Writing::Reply {
        diesel::update(conversations::table.find(target.id))
            .set((
                conversations::last_message_at.eq(at),
                conversations::awaiting_reply_since.eq(None::<NaiveDateTime>),
                conversations::status.eq(ConversationStatus::Open),
                conversations::closed_at.eq(None::<NaiveDateTime>),
                conversations::closed_by_id.eq(None::<UserId>),
            ))
            .execute(conn)?;
    }
    target.record(
        conn,
        me,
        action,
        format!(
            "{what} in conversation #{} ({} characters){}",
            target.id,
            body.chars().count(),
            if reopened {
                "; the conversation was reopened"
            } else {
                ""
            }
        ),
    )?;
    let author: String = users::table
        .find(viewer.user_id)
        .select(users::display_name)
        .first(conn)?;
    Ok(MessageView {
        direction,
        author: Some(author),
        body: viewer.contact_mask().text(body),
        created_at: at,
        reopened,
    })
}

/// Closes or reopens a conversation.
pub fn set_status(
    conn: &mut DbConnection,
    me: &Caller,
    conversation_id: ConversationId,
    open: bool,
) -> Result<(), AppError> {
    let viewer = &me.viewer;
    let target = visible_target(conn, viewer, conversation_id)?;
    let wanted = if open {
        ConversationStatus::Open
    } else {
        ConversationStatus::Closed
    };
    if target.status == wanted {
        return Ok(());
    }
    diesel::update(conversations::table.find(target.id))
        .set((
            conversations::status.eq(wanted),
            conversations::closed_at.eq(if open { None } else { Some(now()) }),
            conversations::closed_by_id.eq(if open { None } else { Some(viewer.user_id) }),
        ))
        .execute(conn)?;
    if !open {
        // the assignee has room for one more: the queue may move
        routing::drain(conn, viewer.company_id)?;
    }
    let (action, verb) = if open {
        ("conversation.reopen", "reopened")
    } else {
        ("conversation.close", "closed")
    };
    target.record(
        conn,
        me,
        action,
        format!("conversation #{} {verb}", target.id),
    )
}

/// Who a conversation can be transferred to: active members of its channel who can hold it.
pub fn transfer_options(
    conn: &mut DbConnection,
    viewer: &Viewer,
    conversation_id: ConversationId,
) -> Result<Vec<channel_domain::Holder>, AppError> {
    let target = visible_target(conn, viewer, conversation_id)?;
    Ok(holders_for(conn, viewer.company_id, &target)?
        .into_iter()
        .filter(|h| Some(h.id) != target.assignee_id)
        .collect())
}

/// The conversation's possible assignees: its channel's holders whose role may see it (a
/// restricted label would hide it from the others the moment it is theirs).
fn holders_for(
    conn: &mut DbConnection,
    company_id: CompanyId,
    target: &Target,
) -> Result<Vec<channel_domain::Holder>, AppError> {
    let restrictions = labels::restrictions_on(conn, company_id, &[target.id])?;
    let required = restrictions.on(target.id);
    Ok(
        channel_domain::holders(conn, company_id, target.channel_id)?
            .into_iter()
            .filter(|h| labels::allows(required, h.role_id))
            .collect(),
    )
}

/// Gives the conversation to another agent. The previous assignee loses sight of it at once
/// unless another right (channel-wide or company-wide view) still shows it to them.
pub fn transfer(
    conn: &mut DbConnection,
    me: &Caller,
    conversation_id: ConversationId,
    to_user_id: Option<UserId>,
) -> Result<(), AppError> {
    let viewer = &me.viewer;
    let target = visible_target(conn, viewer, conversation_id)?;
    if to_user_id.is_some() && to_user_id == target.assignee_id {
        return Ok(());
    }
    let holders = holders_for(conn, viewer.company_id, &target)?;
    let Some(to) = holders.iter().find(|h| Some(h.id) == to_user_id) else {
        return Err(AppError::field(
            "assignee_id",
            "Choose an active member of this conversation's channel who can hold conversations (and may see its labels).",
        ));
    };
    routing::Handoff {
        conversation_id: target.id,
        from: target.assignee_id,
        to: Some(to.id),
        by: Some(viewer.user_id),
        reason: None,
        at: now(),
    }
    .apply(conn)?;
    target.record(
        conn,
        me,
        "conversation.transfer",
        format!("conversation #{} transferred to {}", target.id, to.username),
    )
}

/// Adds (`present`) or removes a label; asking for what is already so changes and records
/// nothing. A restricted label is added or removed only by the roles it is limited to (403).
pub fn set_label(
    conn: &mut DbConnection,
    me: &Caller,
    conversation_id: ConversationId,
    label: &str,
    present: bool,
) -> Result<(), AppError> {
    let target = visible_target(conn, &me.viewer, conversation_id)?;
    let typed = label;
    let label = if present {
        let name =
            labels::clean_name(typed).map_err(|message| AppError::field("label", message))?;
        Some(labels::find_or_create(conn, me.company_id, &name)?)
    } else {
        labels::find(conn, me.company_id, typed)?
    };
    if let Some(found) = &label
        && !labels::may_use(conn, me, found.id)?
    {
        return Err(AppError::Forbidden);
    }
    // a removal takes the label as shown, so one stored under an older rule can still go
    let key = labels::key_of(label.as_ref().map_or(typed, |l| l.name.as_str()));
    let this_label = conversation_labels::table
        .filter(conversation_labels::conversation_id.eq(target.id))
        .filter(conversation_labels::label.eq(&key));
    let (changed, action, said) = if present {
        let exists: i64 = this_label.count().get_result(conn)?;
        let added = if exists > 0 {
            0
        } else {
            diesel::insert_into(conversation_labels::table)
                .values((
                    conversation_labels::conversation_id.eq(target.id),
                    conversation_labels::company_id.eq(me.company_id),
                    conversation_labels::label.eq(&key),
                    conversation_labels::label_id.eq(label.as_ref().map(|l| l.id)),
                ))
                .execute(conn)?
        };
        (added, "conversation.label_add", "added to")
    } else {
        let removed = diesel::delete(this_label).execute(conn)?;
        (removed, "conversation.label_remove", "removed from")
    };
    if changed == 0 {
        return Ok(());
    }
    let shown = label.as_ref().map_or(key.as_str(), |l| l.name.as_str());
    let summary = format!("label {shown} {said} conversation #{}", target.id);
    target.record(conn, me, action, summary)
}

/// How many contacts the viewer revealed in the 24 hours before `at`.
fn reveals_used(
    conn: &mut DbConnection,
    viewer: &Viewer,
    at: NaiveDateTime,
) -> Result<i64, AppError> {
    Ok(contact_reveals::table
        .filter(contact_reveals::user_id.eq(viewer.user_id))
        .filter(contact_reveals::created_at.gt(at - chrono::Duration::hours(24)))
        .count()
        .get_result(conn)?)
}

/// How many more contacts the viewer may reveal now, under the company's daily cap.
pub fn reveals_left(conn: &mut DbConnection, me: &Caller) -> Result<i64, AppError> {
    let cap = crate::domain::companies::get(conn, me.company_id)?.reveal_daily_cap;
    Ok((i64::from(cap) - reveals_used(conn, &me.viewer, now())?).max(0))
}

/// Shows one contact's full details once, for a stated reason, within the company's daily cap
/// per user; the reveal and its reason go to the activity log (the details do not).
pub fn reveal(
    conn: &mut DbConnection,
    me: &Caller,
    conversation_id: ConversationId,
    reason: &str,
) -> Result<ContactCard, AppError> {
    let (viewer, actor) = (&me.viewer, &me.actor);
    let daily_cap = crate::domain::companies::get(conn, me.company_id)?.reveal_daily_cap;
    let target = visible_target(conn, viewer, conversation_id)?;
    let reason = reason.trim();
    if reason.chars().count() < 5
        || reason.chars().count() > 300
        || !crate::core::text::storable(reason)
    {
        return Err(AppError::field(
            "reason",
            "Say in 5 to 300 characters why you need the full details.",
        ));
    }
    // concurrent reveals by one user count each other
    crate::db::serialize(
        conn,
        crate::db::LockSpace::Reveals,
        &viewer.user_id.to_string(),
    )?;
    let at = now();
    let used = reveals_used(conn, viewer, at)?;
    if used >= i64::from(daily_cap) {
        return Err(AppError::Conflict(format!(
            "You have revealed {used} contacts in the last 24 hours, the most your company allows. Ask a supervisor, or try again tomorrow."
        )));
    }
    diesel::insert_into(contact_reveals::table)
        .values((
            contact_reveals::company_id.eq(viewer.company_id),
            contact_reveals::user_id.eq(viewer.user_id),
            contact_reveals::contact_id.eq(target.contact_id),
            contact_reveals::conversation_id.eq(target.id),
            contact_reveals::reason.eq(reason),
            contact_reveals::created_at.eq(at),
        ))
        .execute(conn)?;
    let (name, phone, email): (String, Option<String>, Option<String>) = contacts::table
        .find(target.contact_id)
        .select((contacts::name, contacts::phone, contacts::email))
        .first(conn)?;
    let external: Option<String> = conversations::table
        .find(target.id)
        .select(conversations::external_contact_id)
        .first(conn)?;
    // the activity log names contacts by id, never by their personal details
    let contact = format!("contact #{}", target.contact_id);
    audit::Entry::new(viewer.company_id, actor, "contact.reveal")
        .on("contact", target.contact_id, &contact)
        .saying(format!(
            "details of {contact} revealed in conversation #{}; reason: {}",
            target.id,
            crate::core::masking::mask_identifier(reason)
        ))
        .write(conn)?;
    Ok(ContactCard::new(
        ContactMask::Full,
        name,
        phone,
        email,
        external,
    ))
}

/// Fills the masked copies (what a masked viewer sees and searches) of messages and contact
/// names that have none: rows written before they existed, and a company's messages after its
/// phone region changed. Batches of a few hundred rows, each batch one transaction that reads
/// the region afresh; returns how many rows it filled, and does nothing once all are filled.
pub fn fill_masked_copies(conn: &mut DbConnection) -> Result<usize, AppError> {
    const BATCH: i64 = 500;
    let mut filled = 0;
    // (a partial index holds exactly the rows without a copy: finding none costs nothing)
    loop {
        let batch = crate::db::write_transaction(conn, |conn| {
            let rows: Vec<(i64, CompanyId, String)> = messages::table
                .filter(messages::body_masked.is_null())
                .select((messages::id, messages::company_id, messages::body))
                .limit(BATCH)
                .load(conn)?;
            // each company's region as it stands in this transaction, read once per batch
            let mut regions = std::collections::HashMap::new();
            for (id, company_id, body) in &rows {
                let region = match regions.get(company_id) {
                    Some(region) => *region,
                    None => {
                        let region = crate::domain::companies::phone_region(conn, *company_id)?;
                        regions.insert(*company_id, region);
                        region
                    }
                };
                diesel::update(messages::table.find(id))
                    .set(messages::body_masked.eq(Some(mask_text(body, region))))
                    .execute(conn)?;
            }
            Ok(rows.len())
        })?;
        if batch == 0 {
            break;
        }
        filled += batch;
    }
    loop {
        let rows: Vec<(ContactId, String)> = contacts::table
            .filter(contacts::name_masked.is_null())
            .select((contacts::id, contacts::name))
            .limit(BATCH)
            .load(conn)?;
        if rows.is_empty() {
            break;
        }
        crate::db::write_transaction(conn, |conn| {
            for (id, name) in &rows {
                diesel::update(contacts::table.find(id))
                    .set(contacts::name_masked.eq(Some(mask_identifier(name))))
                    .execute(conn)?;
            }
            Ok(())
        })?;
        filled += rows.len();
    }
    Ok(filled)
}

/// A number that grows with every change any instance makes to conversations (a message, an
/// assignment, an audited action): live pages and the inbox cache compare it to learn of
/// another instance's changes (announced changes reach them through the watch's retirement
/// of cached state, `Pool::commits`). Three index lookups.
pub fn change_marker(conn: &mut DbConnection) -> Result<i64, AppError> {
    use crate::db::schema::audit_events;
    use diesel::dsl::max;
    let messages: Option<i64> = messages::table.select(max(messages::id)).first(conn)?;
    let assignments: Option<i64> = conversation_assignments::table
        .select(max(conversation_assignments::id))
        .first(conn)?;
    let audited: Option<i64> = audit_events::table
        .select(max(audit_events::id))
        .first(conn)?;
    Ok([messages, assignments, audited]
        .into_iter()
        .flatten()
        .fold(0, i64::saturating_add))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` keys newest first, a second apart, ids 1 to `n` from the oldest.
    fn newest_first(n: usize) -> Vec<ListKey> {
        let start = chrono::DateTime::from_timestamp(1_764_700_000, 0)
            .map(|at| at.naive_utc())
            .unwrap_or_default();
        (1..=n as i64)
            .rev()
            .map(|i| (start + chrono::TimeDelta::seconds(i), ConversationId(i)))
            .collect()
    }

    #[test]
    fn a_page_is_cut_from_the_counts_keys_only_when_they_hold_it() {
        let page = cursor::rows_to_read(PAGE_SIZE) as usize;
        let capped = COUNT_CAP as usize + 1;
        let all = newest_first(capped);
        let few = newest_first(30);
        let (newest, oldest) = (ListOrder::Newest, ListOrder::Oldest);
        // the first page, and a page after a cursor: the keys that follow it
        assert_eq!(page_of_keys(&all, newest, None), Some(0..page));
        assert_eq!(page_of_keys(&few, newest, Some(few[9])), Some(10..30));
        assert_eq!(page_of_keys(&few, newest, Some(few[29])), Some(30..30));
        // a page that reaches past the capped count's keys is read otherwise
        let last_held = capped - page;
        assert_eq!(
            page_of_keys(&all, newest, Some(all[last_held - 1])),
            Some(last_held..capped)
        );
        assert_eq!(page_of_keys(&all, newest, Some(all[last_held])), None);
        // counted to the end, the keys hold every page
        let counted = &all[..capped - 1];
        assert_eq!(
            page_of_keys(counted, newest, Some(counted[last_held])),
            Some(last_held + 1..capped - 1)
        );
        // oldest first
        let mut rising = few.clone();
        rising.reverse();
        assert_eq!(page_of_keys(&rising, oldest, Some(rising[4])), Some(5..30));
        assert_eq!(page_of_keys(&rising, oldest, None), Some(0..30));
        // a cursor between keys (its row gone since): the page starts at the next one
        let (at, id) = few[4];
        let between = (at, ConversationId(id.0 - 1));
        assert_eq!(page_of_keys(&few, newest, Some(between)), Some(5..30));
    }
}
