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
    AssignmentView, ConversationRow, ListFilter, ListOrder, MessageView,
};
use crate::error::AppError;
use crate::web::{Cx, format_recent, format_time};

pub struct RowItem {
    pub(crate) row: ConversationRow,
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
    pub fn new(row: ConversationRow, at: chrono::NaiveDateTime) -> Self {
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
    })
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
