//! What the conversation pages show, shared by the pages (`web::conversations`) and their
//! live updates (`web::live`): the list's filters as the address carries them, and rows,
//! messages and history lines as the templates read them.

use chrono::Duration;
use serde::Deserialize;

use crate::core::ids::{ChannelId, UserId};
use crate::core::masking::ContactMask;
use crate::core::status::ConversationStatus;
use crate::domain::companies;
use crate::domain::conversations::{
    self, AssignmentView, ConversationRow, Inbox, InboxKey, ListFilter, ListOrder, MessageView,
};
use crate::error::AppError;
use crate::web::layout::Layout;
use crate::web::{Cx, format_recent, format_time};
use std::sync::Arc;

pub struct RowItem {
    /// Shared with the inbox cache's entry: a page from the cache copies no row.
    pub(crate) row: Arc<ConversationRow>,
    /// The kind of channel, unless its name already says it ("Instagram", not "Instagram
    /// Instagram").
    pub(crate) kind_label: Option<&'static str>,
    pub(crate) last_activity: String,
    /// How long the customer has waited for an answer ("2 h 05 min"), when they wait.
    pub(crate) waited: Option<String>,
}

/// A wait in hours and minutes, for people: "45 min", "2 h 05 min", "3 d 4 h".
fn waited_for(since: chrono::NaiveDateTime, at: chrono::NaiveDateTime) -> String {
    let minutes = (at - since).num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes:02} min"),
        _ => format!("{days} d {hours} h"),
    }
}

impl RowItem {
    /// The rows of a page of the list, as shown at `at`.
    pub fn all(rows: &[Arc<ConversationRow>], at: chrono::NaiveDateTime) -> Vec<Self> {
        rows.iter().map(|row| Self::new(row.clone(), at)).collect()
    }

    pub fn new(row: Arc<ConversationRow>, at: chrono::NaiveDateTime) -> Self {
        Self {
            kind_label: Some(row.channel_kind.label()).filter(|label| {
                let (name, label) = (row.channel_name.to_lowercase(), label.to_lowercase());
                !name.contains(&label) && !label.contains(&name)
            }),
            last_activity: format_recent(&row.last_message_at, at),
            waited: row
                .awaiting_reply_since
                .filter(|_| row.status.is_open())
                .map(|since| waited_for(since, at)),
            row,
        }
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    pub(crate) status: Option<String>,
    pub(crate) channel: Option<ChannelId>,
    pub(crate) assignee: Option<UserId>,
    pub(crate) q: Option<String>,
    pub(crate) label: Option<String>,
    pub(crate) missed: Option<String>,
    /// `1`: only conversations nobody holds (the queue).
    pub(crate) unassigned: Option<String>,
    /// `newest` (the default) or `oldest` last activity first.
    pub(crate) sort: Option<String>,
    /// The cursor of the last row shown (`before` in links made before the list could sort).
    #[serde(alias = "before")]
    pub(crate) after: Option<String>,
    /// What a live update last showed (`web::live`); the page itself ignores it.
    pub(crate) seen: Option<String>,
}

impl ListQuery {
    pub(crate) fn is_unassigned(&self) -> bool {
        self.unassigned
            .as_deref()
            .is_some_and(|u| !u.is_empty() && u != "0")
    }

    /// The filters as a query string (for the export and older-page links), the search text
    /// masked for this viewer *before* it is encoded: masking an encoded string would miss a
    /// number whose groups the encoding joined with `+`.
    pub fn describe_query(&self, mask: ContactMask) -> String {
        crate::web::forms::query_string([
            ("status", self.status.clone().unwrap_or_default()),
            (
                "channel",
                self.channel.map(|c| c.to_string()).unwrap_or_default(),
            ),
            (
                "assignee",
                self.assignee.map(|a| a.to_string()).unwrap_or_default(),
            ),
            ("q", mask.text(self.q.as_deref().unwrap_or_default())),
            ("label", self.label.clone().unwrap_or_default()),
            ("missed", self.missed.clone().unwrap_or_default()),
            ("unassigned", self.unassigned.clone().unwrap_or_default()),
            ("sort", self.sort.clone().unwrap_or_default()),
        ])
    }

    /// The filters in words, for the activity record of an export.
    pub fn describe(&self) -> String {
        let (channel, assignee) = (
            self.channel.map(|c| c.to_string()),
            self.assignee.map(|a| a.to_string()),
        );
        [
            ("status", &self.status),
            ("channel", &channel),
            ("assignee", &assignee),
            ("q", &self.q),
            ("label", &self.label),
            ("missed", &self.missed),
            ("unassigned", &self.unassigned),
            ("sort", &self.sort),
        ]
        .iter()
        .filter_map(|(name, value)| {
            value
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{name}={v}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// The list's filters from its query string (shared by the page and its CSV export).
pub async fn list_filter(cx: &Cx, query: &ListQuery) -> Result<ListFilter, AppError> {
    let status = match query.status.as_deref().unwrap_or("open") {
        "all" => None,
        other => Some(
            ConversationStatus::parse(other)
                .ok_or_else(|| AppError::Invalid("Status is open, closed or all.".into()))?,
        ),
    };
    let missed = query
        .missed
        .as_deref()
        .is_some_and(|m| !m.is_empty() && m != "0");
    let waiting_since_before = if missed {
        let minutes = cx
            .read(|conn, me| Ok(companies::get(conn, me.company_id)?.missed_chat_minutes))
            .await?;
        Some(cx.now() - Duration::minutes(minutes.into()))
    } else {
        None
    };
    Ok(ListFilter {
        status: if missed {
            Some(ConversationStatus::Open)
        } else {
            status
        },
        channel_id: query.channel,
        assignee_id: query.assignee,
        unassigned: query.is_unassigned(),
        q: query.q.clone().filter(|q| q.len() <= 200),
        label: query.label.clone().filter(|l| l.len() <= 30),
        waiting_since_before,
        order: match query.sort.as_deref().filter(|s| !s.is_empty()) {
            None => ListOrder::default(),
            Some(sort) => ListOrder::parse(sort)
                .ok_or_else(|| AppError::Invalid("Sort by newest or oldest activity.".into()))?,
        },
        after: crate::web::forms::page_cursor(query.after.as_deref())?,
        search_plan: None,
    })
}

/// The viewer's inbox under `filter`, for the page and its live updates alike: from the inbox
/// cache while nothing was written since it was read (`AppState::live_stamp`) and the session
/// cache's rule keeps it (`auth::live_cache`), else in one database hop (and kept). The
/// missed-chats filter depends on the time, so it is always read.
/// With the live version it was read at, taken before the read: a page that carries it learns
/// of a write that raced its read at its next poll.
pub async fn read_inbox(cx: &Cx, filter: ListFilter) -> Result<(Arc<Inbox>, String), AppError> {
    // taken before the read: a write that commits during the read moves it
    let stamp = cx.state.live_stamp();
    let read = cx.state.pool.cache_clock();
    let counts_open = Layout::counts_open(cx);
    let key = filter.waiting_since_before.is_none().then(|| InboxKey {
        user: cx.user.auth.user_id,
        permissions: cx.user.viewer().permissions,
        counts_open,
        filter: filter.clone(),
    });
    let cache = &cx.state.inbox_cache;
    if let Some(inbox) = key.as_ref().and_then(|key| cache.get(key, stamp, &read)) {
        return Ok((inbox, stamp.to_string()));
    }
    let (state, now) = (cx.state.clone(), cx.now());
    let inbox = cx
        .read(move |conn, me| {
            let filter = state.search_plans.planned(conn, &me.viewer, filter, now)?;
            let (page, matched) = conversations::list_counted(conn, &me.viewer, &filter)?;
            let mut channels = state.company_channels(conn, me.company_id)?.to_vec();
            if let Some(mine) = crate::domain::visibility::scope(conn, &me.viewer)?.channel_limit()
            {
                channels.retain(|c| mine.contains(&c.id));
            }
            Ok(Inbox {
                page: page.map(Arc::new),
                matched,
                counts: Layout::nav_counts(conn, me, counts_open)?,
                channels,
            })
        })
        .await
        .map(Arc::new)?;
    if let Some(key) = key {
        cache.put(key, inbox.clone(), stamp, &read);
    }
    Ok((inbox, stamp.to_string()))
}

pub struct MessageItem {
    pub(crate) message: MessageView,
    pub(crate) at: String,
}

impl MessageItem {
    pub fn new(message: MessageView) -> Self {
        Self {
            at: format_time(&message.created_at),
            message,
        }
    }
}

pub struct HistoryItem {
    pub(crate) line: String,
}

impl HistoryItem {
    pub fn new(view: AssignmentView) -> Self {
        let by = view
            .by
            .map(|by| format!(" by {by}"))
            .unwrap_or_else(|| " automatically".into());
        let at = format_time(&view.at);
        let line = match (view.from, view.to) {
            (Some(from), Some(to)) => format!("{at} · transferred from {from} to {to}{by}"),
            (Some(from), None) => format!("{at} · returned from {from} to the queue{by}"),
            (None, Some(to)) => format!("{at} · assigned to {to}{by}"),
            (None, None) => format!("{at} · waiting in the unassigned queue"),
        };
        // routing says why it chose as it did
        let line = match view.reason {
            Some(reason) => format!("{line} ({reason})"),
            None => line,
        };
        Self { line }
    }
}
