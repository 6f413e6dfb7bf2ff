//! Oversight: `/logins` (`logins.view`), `/activity` (`activity.view`), `/sessions`
//! (`sessions.manage`) and the CSV exports of those pages and of conversations.

use crate::core::text::count;
use actix_web::HttpResponse;
use actix_web::web::{Bytes, Path};
use askama::Template;
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::auth::client::describe_user_agent;
use crate::core::cursor::{self, Page};
use crate::core::ids::{ConversationId, SessionId, UserId};
use crate::core::masking::mask_identifier;
use crate::core::permissions::Permission;
use crate::db::DbConnection;
use crate::domain::audit::{self, ActivityFilter, Record};
use crate::domain::login_events::{self, LoginFilter, LoginRow};
use crate::domain::sessions::{self, CompanySession};
use crate::domain::{Caller, conversations};
use crate::error::AppError;
use crate::web::forms::{filtered_page, filters_or_reason};
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, Query, format_recent, format_time, page, see_other};

/// `YYYY-MM-DD` → the start of that day; `to` dates include their whole day.
fn parse_day(
    value: Option<&str>,
    what: &str,
    end_of_day: bool,
) -> Result<Option<NaiveDateTime>, AppError> {
    let Some(value) = crate::core::text::typed(value) else {
        return Ok(None);
    };
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|day| crate::core::text::YEARS.contains(&day.year()))
        .ok_or_else(|| AppError::Invalid(format!("The {what} date is written YYYY-MM-DD.")))?;
    let day = if end_of_day {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    Ok(day.and_hms_opt(0, 0, 0))
}

/// The logs page newest first on (time, id); see `core::cursor`.
type Cursor = (NaiveDateTime, i64);

/// One page of a log (login history, activity) as its filters ask.
struct LogPage<R> {
    layout: Layout,
    rows: Vec<R>,
    /// The next page's cursor, when a next page holds more.
    next_cursor: Option<String>,
    /// Why the filters could not be read (there are no rows then).
    error: Option<String>,
}

/// How a log reads one page: the company's rows under the filters, at most `size`.
type ReadLog<F, R> =
    fn(&mut DbConnection, crate::core::ids::CompanyId, &F, i64) -> Result<Vec<R>, AppError>;

/// Reads a log page of `size` rows (as `read` reads them) with the page's layout, or, when
/// the filters do not read, the layout and the reason.
async fn log_page<F, R>(
    cx: &Cx,
    (title, nav, size): (&'static str, &'static str, i64),
    filter: Result<F, AppError>,
    read: ReadLog<F, R>,
    cursor_of: fn(&R) -> Cursor,
) -> Result<LogPage<R>, AppError>
where
    F: Send + 'static,
    R: Send + 'static,
{
    let filter = filters_or_reason(filter)?;
    let error = filter.as_ref().err().cloned();
    let (layout, rows) = cx
        .read_page(title, nav, move |conn, me| match filter {
            Ok(filter) => read(conn, me.company_id, &filter, cursor::rows_to_read(size)),
            Err(_) => Ok(Vec::new()),
        })
        .await?;
    let page = Page::of(rows, size);
    Ok(LogPage {
        next_cursor: page.next(|last| {
            let (at, id) = cursor_of(last);
            cursor::format(at, id)
        }),
        layout,
        rows: page.rows,
        error,
    })
}

// ---- login history -------------------------------------------------------------------------

/// The date range and page cursor every oversight list and export takes.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct Period {
    from: Option<String>,
    to: Option<String>,
    /// The keyset cursor: a page's own, never carried into the links it makes.
    #[serde(skip_serializing)]
    before: Option<String>,
}

/// A period read: `from` is the start of its day, `to` the end of its day.
struct Bounds {
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    before: Option<Cursor>,
}

impl Period {
    fn bounds(&self) -> Result<Bounds, AppError> {
        let from = parse_day(self.from.as_deref(), "from", false)?;
        let to = parse_day(self.to.as_deref(), "to", true)?;
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(AppError::Invalid(
                "The first day comes after the last one: swap them.".into(),
            ));
        }
        Ok(Bounds {
            from,
            to,
            before: crate::web::forms::page_cursor(self.before.as_deref())?,
        })
    }
}

/// The filters as a query string, for the next page and the export link.
fn query_string(filters: &impl Serialize) -> String {
    serde_html_form::to_string(filters).unwrap_or_default()
}

#[derive(Clone, Default, Deserialize, Serialize)]
pub struct LoginQuery {
    user: Option<String>,
    success: Option<String>,
    #[serde(flatten)]
    period: Period,
}

impl LoginQuery {
    fn filter(&self) -> Result<LoginFilter, AppError> {
        let Bounds { from, to, before } = self.period.bounds()?;
        Ok(LoginFilter {
            user: self.user.clone().filter(|u| u.len() <= 64),
            success: match self.success.as_deref().unwrap_or("") {
                "" => None,
                "true" => Some(true),
                "false" => Some(false),
                _ => return Err(AppError::Invalid("Outcome is true or false.".into())),
            },
            from,
            to,
            before,
        })
    }
}

pub struct LoginLine {
    row: LoginRow,
    at: String,
    device: String,
    /// Why it failed, in words.
    reason: &'static str,
}

/// A failure reason as the login history shows it.
fn reason_in_words(code: &str) -> &'static str {
    match code {
        "bad_password" => "wrong password",
        "unknown_user" => "unknown username",
        "unknown_company" => "unknown company code",
        "deactivated" => "account deactivated",
        "locked" => "account locked",
        "throttled" => "too many attempts from this address",
        "pending" => "being checked",
        "code_required" => "password right, waiting for the two-factor code",
        "bad_code" => "wrong two-factor code",
        "ok" => "",
        _ => "other",
    }
}

#[derive(Template)]
#[template(path = "oversight/logins.html")]
struct LoginsPage {
    layout: Layout,
    /// Why the filters could not be read.
    error: Option<String>,
    lines: Vec<LoginLine>,
    query: LoginQuery,
    query_string: String,
    next_cursor: Option<String>,
    can_export: bool,
}

pub async fn logins(cx: Cx, Query(query): Query<LoginQuery>) -> Answer {
    let LogPage {
        layout,
        rows,
        next_cursor,
        error,
    } = log_page(
        &cx,
        ("Login history", "/logins", login_events::PAGE_SIZE),
        query.filter(),
        login_events::page,
        |r| (r.created_at, r.id),
    )
    .await?;
    filtered_page(
        &error,
        &LoginsPage {
            layout,
            error: error.clone(),
            lines: rows
                .into_iter()
                .map(|row| LoginLine {
                    reason: reason_in_words(&row.reason),
                    at: format_time(&row.created_at),
                    device: describe_user_agent(&row.user_agent),
                    row,
                })
                .collect(),
            query_string: query_string(&query),
            query,
            next_cursor,
            can_export: cx.can(Permission::ExportsCreate),
        },
    )
}

// ---- activity ------------------------------------------------------------------------------

#[derive(Clone, Default, Deserialize, Serialize)]
pub struct ActivityQuery {
    actor: Option<String>,
    action: Option<String>,
    #[serde(flatten)]
    period: Period,
}

impl ActivityQuery {
    fn filter(&self) -> Result<ActivityFilter, AppError> {
        let Bounds { from, to, before } = self.period.bounds()?;
        Ok(ActivityFilter {
            actor: self.actor.clone().filter(|a| a.len() <= 64),
            action: self.action.clone().filter(|a| a.len() <= 64),
            from,
            to,
            before,
        })
    }
}

pub struct ActivityLine {
    record: Record,
    at: String,
    /// The target's page, when there is one and the viewer may open it.
    target_href: Option<String>,
}

/// Where a record's target is shown, if the viewer's role may open that page (by the route's
/// own rule, like the navigation).
fn target_href(cx: &Cx, record: &Record) -> Option<String> {
    let id = record.target_id?;
    let (pattern, base) = match record.target_type.as_str() {
        "user" => (r"/users/{id:\d+}", "/users"),
        "role" => (r"/roles/{id:\d+}", "/roles"),
        "channel" => (r"/channels/{id:\d+}", "/channels"),
        "conversation" => (r"/conversations/{id:\d+}", "/conversations"),
        _ => return None,
    };
    crate::web::layout::may_open(&cx.rules, &cx.user, pattern).then(|| format!("{base}/{id}"))
}

#[derive(Template)]
#[template(path = "oversight/activity.html")]
struct ActivityPage {
    layout: Layout,
    /// Why the filters could not be read.
    error: Option<String>,
    lines: Vec<ActivityLine>,
    query: ActivityQuery,
    query_string: String,
    next_cursor: Option<String>,
    can_export: bool,
}

pub async fn activity(cx: Cx, Query(query): Query<ActivityQuery>) -> Answer {
    let LogPage {
        layout,
        rows,
        next_cursor,
        error,
    } = log_page(
        &cx,
        ("Activity", "/activity", audit::PAGE_SIZE),
        query.filter(),
        audit::page,
        |r| (r.created_at, r.id),
    )
    .await?;
    filtered_page(
        &error,
        &ActivityPage {
            layout,
            error: error.clone(),
            lines: rows
                .into_iter()
                .map(|record| ActivityLine {
                    at: format_time(&record.created_at),
                    target_href: target_href(&cx, &record),
                    record,
                })
                .collect(),
            query_string: query_string(&query),
            query,
            next_cursor,
            can_export: cx.can(Permission::ExportsCreate),
        },
    )
}

// ---- sessions ------------------------------------------------------------------------------

pub struct SessionLine {
    session: CompanySession,
    device: String,
    started: String,
    last_seen: String,
    current: bool,
    /// The person's first line carries their name and how many sessions they have.
    sessions_of_user: Option<usize>,
}

#[derive(Template)]
#[template(path = "oversight/sessions.html")]
struct SessionsPage {
    layout: Layout,
    lines: Vec<SessionLine>,
    /// More people are signed in than the page shows.
    more: bool,
    shown: i64,
}

pub async fn sessions_index(cx: Cx) -> Answer {
    let (layout, Page { rows, more }) = cx
        .read_page("Sessions", "/sessions", |conn, me| {
            sessions::list_live_for_company(conn, me)
        })
        .await?;
    let (current, now) = (cx.user.auth.session_id, cx.now());
    let mut lines: Vec<SessionLine> = Vec::with_capacity(rows.len());
    for s in rows {
        let first = lines
            .last()
            .is_none_or(|previous| previous.session.user_id != s.user_id);
        lines.push(SessionLine {
            device: describe_user_agent(&s.user_agent),
            started: format_time(&s.created_at),
            last_seen: format_recent(&s.last_seen_at, now),
            current: s.id == current,
            sessions_of_user: first.then_some(0),
            session: s,
        });
    }
    // each person's first line counts their lines
    let mut group_start = 0;
    for at in 1..=lines.len() {
        if at == lines.len() || lines[at].sessions_of_user.is_some() {
            lines[group_start].sessions_of_user = Some(at - group_start);
            group_start = at;
        }
    }
    page(&SessionsPage {
        layout,
        lines,
        more,
        shown: sessions::LIVE_SESSIONS_SHOWN,
    })
}

pub async fn end_session(cx: Cx, id: Path<SessionId>) -> Answer {
    let session_id = id.into_inner();
    cx.write(move |conn, me| sessions::end_in_company(conn, me, session_id))
        .await?;
    if session_id == cx.user.auth.session_id {
        cx.session.purge();
        return Ok(see_other("/login"));
    }
    Ok(cx.done(
        "The session was ended. Its next request lands on the sign-in page.",
        "/sessions",
    ))
}

#[derive(Deserialize)]
pub struct EndAllForm {
    user_id: UserId,
}

pub async fn end_user_sessions(cx: Cx, Form(form): Form<EndAllForm>) -> Answer {
    let user_id = form.user_id;
    let ended = cx
        .write(move |conn, me| sessions::end_all_of_user(conn, me, user_id))
        .await?;
    if user_id == cx.user.auth.user_id {
        cx.session.purge();
        return Ok(see_other("/login"));
    }
    let said = count(ended, "session was", "sessions were");
    Ok(cx.done(format!("{said} ended."), "/sessions"))
}

// ---- exports -------------------------------------------------------------------------------

/// Rows of one page of an export and the cursor of the next page (None at the end).
type ExportPage<C> = (Vec<Vec<String>>, Option<C>);

const EXPORT_PAGE: i64 = 1000;

/// Spreadsheet programs run cells that start with these as formulas; a quote keeps them text.
fn cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}

fn csv_bytes(rows: &[Vec<String>]) -> Bytes {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        let cells: Vec<String> = row.iter().map(|v| cell(v)).collect();
        if writer.write_record(&cells).is_err() {
            break;
        }
    }
    Bytes::from(writer.into_inner().unwrap_or_default())
}

/// What an export has sent, and its closing record: `export.finish` with the row count once
/// everything was sent, else (the client went away, or a page failed) `export.abort` with
/// the rows sent so far, written when the stream is dropped.
struct ExportRecord {
    pool: crate::db::Pool,
    caller: Caller,
    name: &'static str,
    rows: usize,
    finished: bool,
}

impl ExportRecord {
    fn close(&mut self, action: &'static str) -> impl Future<Output = ()> + 'static {
        let (pool, caller, name, rows) =
            (self.pool.clone(), self.caller.clone(), self.name, self.rows);
        self.finished = true;
        async move {
            let recorded = crate::db::write(&pool, move |conn| {
                audit::Entry::new(caller.company_id, &caller.actor, action)
                    .about("export", name)
                    .saying(format!("{name}: {} sent", count(rows, "row", "rows")))
                    .write(conn)
            })
            .await;
            if let Err(err) = recorded {
                tracing::error!(error = %err.chain(), "cannot record the end of an export");
            }
        }
    }
}

impl Drop for ExportRecord {
    fn drop(&mut self) {
        if !self.finished {
            actix_web::rt::spawn(self.close("export.abort"));
        }
    }
}

/// Streams an export page by page (constant memory however many rows). The export is in the
/// activity log before its first byte leaves (who, from where, which filters), and closed by
/// a second record with the rows sent and whether it finished: an export cut short is seen.
pub(crate) async fn stream_csv<C, F>(
    cx: &Cx,
    name: &'static str,
    filters: String,
    header: &[&str],
    fetch: F,
) -> Answer
where
    C: Send + 'static,
    F: Fn(&mut DbConnection, Option<C>) -> Result<ExportPage<C>, AppError>
        + Send
        + Sync
        + Clone
        + 'static,
{
    cx.write(move |conn, me| record_export(conn, me, name, &filters))
        .await?;
    struct Progress<C> {
        cursor: Option<C>,
        more: bool,
        record: ExportRecord,
    }
    let header = csv_bytes(&[header.iter().map(|h| h.to_string()).collect()]);
    let pool = cx.state.pool.clone();
    let start = Progress {
        cursor: None,
        more: true,
        record: ExportRecord {
            pool: pool.clone(),
            caller: cx.caller(),
            name,
            rows: 0,
            finished: false,
        },
    };
    let body = futures_util::stream::unfold(Some(start), move |progress| {
        let pool = pool.clone();
        let fetch = fetch.clone();
        async move {
            let mut progress = progress?;
            if !progress.more {
                progress.record.close("export.finish").await;
                return None;
            }
            let cursor = progress.cursor.take();
            match crate::db::run(&pool, move |conn| fetch(conn, cursor)).await {
                Ok((rows, next)) => {
                    progress.record.rows += rows.len();
                    metrics::counter!("switchboard_export_rows_total", "export" => name)
                        .increment(rows.len() as u64);
                    progress.more = next.is_some();
                    progress.cursor = next;
                    Some((
                        Ok::<Bytes, actix_web::Error>(csv_bytes(&rows)),
                        Some(progress),
                    ))
                }
                Err(err) => Some((Err(actix_web::Error::from(err)), None)),
            }
        }
    });
    let header_stream =
        futures_util::stream::once(async move { Ok::<Bytes, actix_web::Error>(header) });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .streaming(futures_util::StreamExt::chain(header_stream, body)))
}

/// The export's opening record: who asked for which data with which filters.
fn record_export(
    conn: &mut DbConnection,
    me: &Caller,
    name: &'static str,
    filters: &str,
) -> Result<(), AppError> {
    // filters are what the user typed: never a full number or address in the log
    let details = if me.viewer.contact_mask().is_masked() {
        "contact details masked"
    } else {
        "contact details in full (contacts.view_unmasked)"
    };
    audit::Entry::new(me.company_id, &me.actor, "export.create")
        .about("export", name)
        .saying(format!(
            "{}; {details}",
            mask_identifier(&format!("{name} started with filters [{filters}]"))
        ))
        .write(conn)
}

/// One page of an export: its CSV rows and, when the page was full, the cursor of the next.
fn export_page<R, C>(
    rows: Vec<R>,
    cursor_of: impl Fn(&R) -> C,
    cells: impl Fn(R) -> Vec<String>,
) -> ExportPage<C> {
    let next = (rows.len() as i64 == EXPORT_PAGE)
        .then(|| rows.last().map(cursor_of))
        .flatten();
    (rows.into_iter().map(cells).collect(), next)
}

fn utc(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

pub async fn export_logins(cx: Cx, Query(query): Query<LoginQuery>) -> Answer {
    let base = query.filter()?;
    let company_id = cx.user.auth.company_id;
    let fetch = move |conn: &mut DbConnection, cursor: Option<Cursor>| {
        let filter = LoginFilter {
            before: cursor.or(base.before),
            ..base.clone()
        };
        let rows = login_events::page(conn, company_id, &filter, EXPORT_PAGE)?;
        Ok(export_page(
            rows,
            |r| (r.created_at, r.id),
            |r| {
                let outcome = if r.success { "success" } else { "failure" };
                vec![
                    utc(r.created_at),
                    r.username,
                    outcome.into(),
                    r.reason,
                    r.ip,
                    describe_user_agent(&r.user_agent),
                    r.location.unwrap_or_default(),
                ]
            },
        ))
    };
    let columns = [
        "time_utc", "username", "outcome", "reason", "ip", "device", "location",
    ];
    stream_csv(&cx, "logins.csv", query_string(&query), &columns, fetch).await
}

pub async fn export_activity(cx: Cx, Query(query): Query<ActivityQuery>) -> Answer {
    let base = query.filter()?;
    let company_id = cx.user.auth.company_id;
    let fetch = move |conn: &mut DbConnection, cursor: Option<Cursor>| {
        let filter = ActivityFilter {
            before: cursor.or(base.before),
            ..base.clone()
        };
        let rows = audit::page(conn, company_id, &filter, EXPORT_PAGE)?;
        Ok(export_page(
            rows,
            |r| (r.created_at, r.id),
            |r| {
                vec![
                    utc(r.created_at),
                    r.actor_username,
                    r.action,
                    r.target_label,
                    r.summary,
                    r.ip,
                    r.seq.to_string(),
                ]
            },
        ))
    };
    let columns = [
        "time_utc", "actor", "action", "target", "summary", "ip", "seq",
    ];
    stream_csv(&cx, "activity.csv", query_string(&query), &columns, fetch).await
}

pub async fn export_conversations(
    cx: Cx,
    Query(query): Query<crate::web::conversation_views::ListQuery>,
) -> Answer {
    let base = crate::web::conversation_views::list_filter(&cx, &query).await?;
    let viewer = cx.user.viewer();
    let filters = query.describe();
    let (state, now) = (cx.state.clone(), cx.now());
    // the conversation list pages on (last activity, id) in its order: the cursor carries both
    let fetch = move |conn: &mut DbConnection, cursor: Option<(NaiveDateTime, ConversationId)>| {
        let filter = conversations::ListFilter {
            after: cursor.or(base.after),
            ..base.clone()
        };
        // every batch searches as the first did
        let filter = state.search_plans.planned(conn, &viewer, filter, now)?;
        let rows = conversations::list_page(conn, &viewer, &filter, EXPORT_PAGE)?;
        Ok(export_page(
            rows,
            |r| (r.last_message_at, r.id),
            conversation_cells,
        ))
    };
    let columns = [
        "id",
        "contact",
        "phone",
        "email",
        "network_id",
        "channel",
        "assignee",
        "status",
        "last_activity_utc",
    ];
    stream_csv(&cx, "conversations.csv", filters, &columns, fetch).await
}

/// A conversation row as CSV cells: contact details are already masked for the viewer.
fn conversation_cells(row: conversations::ConversationRow) -> Vec<String> {
    vec![
        row.id.to_string(),
        row.contact.name,
        row.contact.phone.unwrap_or_default(),
        row.contact.email.unwrap_or_default(),
        row.contact.external_id.unwrap_or_default(),
        row.channel_name,
        row.assignee.unwrap_or_default(),
        row.status.to_string(),
        utc(row.last_message_at),
    ]
}
