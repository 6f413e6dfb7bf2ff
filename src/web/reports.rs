//! `/reports` (`reports.view`) and its CSV export: the figures of `domain::reports` over a
//! period of days in the viewer's time zone, with charts drawn here as inline SVG (no chart
//! script, nothing the content security policy must allow).

use askama::Template;
use chrono::{Duration, NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::core::ids::{ChannelId, TeamId, UserId};
use crate::core::permissions::Permission;
use crate::db::DbConnection;
use crate::domain::reports::{self, Report, ReportFilter, Spread};
use crate::domain::{Caller, now};
use crate::error::AppError;
use crate::web::forms::{filtered_page, filters_or_reason};
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Query};

/// The page's filters, kept in its address (`range` or `from`/`to`, `channel` repeated,
/// `user`, `label`).
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct ReportQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    channel: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<String>,
}

/// The ranges offered besides a custom one, and how many days each covers.
const RANGES: [(&str, &str, i64); 3] = [
    ("today", "Today", 1),
    ("7d", "Last 7 days", 7),
    ("30d", "Last 30 days", 30),
];

/// A field's value, `None` when empty.
fn given(value: &Option<String>) -> Option<&str> {
    crate::core::text::typed(value.as_deref())
}

/// An id chosen from a list, or 422 with `otherwise`.
fn id<T: std::str::FromStr>(value: &str, otherwise: &str) -> Result<T, AppError> {
    value
        .parse()
        .map_err(|_| AppError::Invalid(otherwise.into()))
}

fn day(value: &str, what: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| chrono::Datelike::year(d) >= 2000 && chrono::Datelike::year(d) <= 2100)
        .ok_or_else(|| AppError::Invalid(format!("The {what} day is written YYYY-MM-DD.")))
}

impl ReportQuery {
    /// The filter the query asks for, with `today` the viewer's day; 422 for what does not read.
    fn filter(&self, zone: Tz, today: NaiveDate) -> Result<ReportFilter, AppError> {
        let (first_day, last_day) = match (given(&self.from), given(&self.to)) {
            (None, None) => {
                let range = given(&self.range).unwrap_or("7d");
                let Some((_, _, days)) = RANGES.iter().find(|(key, _, _)| *key == range) else {
                    return Err(AppError::Invalid(
                        "The range is today, 7d or 30d (or choose the days).".into(),
                    ));
                };
                (today - Duration::days(days - 1), today)
            }
            (from, to) => {
                let last = to.map(|v| day(v, "last")).transpose()?.unwrap_or(today);
                let first = match from {
                    Some(v) => day(v, "first")?,
                    None => last - Duration::days(29),
                };
                (first, last)
            }
        };
        if first_day > last_day {
            return Err(AppError::Invalid(
                "The first day comes after the last one: swap them.".into(),
            ));
        }
        if (last_day - first_day).num_days() >= reports::MAX_DAYS {
            return Err(AppError::Invalid(format!(
                "A report covers at most {} days.",
                reports::MAX_DAYS
            )));
        }
        let channels = self
            .channel
            .iter()
            .filter(|c| !c.trim().is_empty())
            .map(|c| id(c, "Choose channels from the list."))
            .collect::<Result<Vec<ChannelId>, _>>()?;
        let user = given(&self.user)
            .map(|u| id::<UserId>(u, "Choose a person from the list."))
            .transpose()?;
        let team = given(&self.team)
            .map(|t| id::<TeamId>(t, "Choose a team from the list."))
            .transpose()?;
        let label = match self.label.as_deref().map(str::trim) {
            Some(label) if label.chars().count() > 30 => {
                return Err(AppError::Invalid(
                    "A label is at most 30 characters.".into(),
                ));
            }
            Some(label) if !label.is_empty() => Some(label.to_lowercase()),
            _ => None,
        };
        Ok(ReportFilter {
            first_day,
            last_day,
            zone,
            channels,
            user,
            label,
            team,
        })
    }

    fn query_string(&self) -> String {
        serde_html_form::to_string(self).unwrap_or_default()
    }

    fn has_channel(&self, id: &ChannelId) -> bool {
        self.channel.iter().any(|c| c.trim() == id.to_string())
    }

    fn is_team(&self, id: &TeamId) -> bool {
        self.team.as_deref().map(str::trim) == Some(id.to_string().as_str())
    }

    fn is_user(&self, id: &UserId) -> bool {
        self.user.as_deref().map(str::trim) == Some(id.to_string().as_str())
    }

    fn has_label(&self) -> bool {
        given(&self.label).is_some()
    }

    fn range_is(&self, key: &str) -> bool {
        let custom = given(&self.from).is_some() || given(&self.to).is_some();
        match key {
            "custom" => custom,
            _ => !custom && self.range.as_deref().map(str::trim).unwrap_or("7d") == key,
        }
    }
}

/// A duration for people: "45 s", "12 min", "3 h 05 min", "2 d 4 h"; "—" for none.
pub fn duration(seconds: Option<i64>) -> String {
    let Some(s) = seconds else {
        return "—".into();
    };
    let s = s.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

/// "median · 90th percentile" of a spread.
fn spread(s: &Spread) -> String {
    if s.count == 0 {
        return "—".into();
    }
    format!("{} · {}", duration(s.median), duration(s.p90))
}

/// One day's bars in the opened/closed chart.
pub struct DayBar {
    x: i64,
    closed_x: i64,
    width: i64,
    opened_y: i64,
    opened_h: i64,
    closed_y: i64,
    closed_h: i64,
    title: String,
    /// The day's label under the chart, for some days only.
    label: Option<String>,
}

/// One cell of the inbound heat map.
pub struct HeatCell {
    x: i64,
    y: i64,
    /// 0.05 to 1, by the cell's share of the busiest hour.
    opacity: String,
    title: String,
}

const CHART_HEIGHT: i64 = 120;
/// The chart's width; a day gets an equal share of it, at least `MIN_DAY_WIDTH`.
const CHART_WIDTH: i64 = 700;
const MIN_DAY_WIDTH: i64 = 14;
/// Room for one day's label under the chart.
const LABEL_WIDTH: i64 = 56;
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn day_bars(report: &Report) -> Vec<DayBar> {
    let top = report
        .days
        .iter()
        .map(|d| d.opened.max(d.closed))
        .max()
        .unwrap_or(0)
        .max(1);
    let step = (CHART_WIDTH / report.days.len().max(1) as i64).max(MIN_DAY_WIDTH);
    let width = (step * 2 / 5).max(5);
    let every = (LABEL_WIDTH / step + 1).max(1) as usize;
    report
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let opened_h = d.opened * CHART_HEIGHT / top;
            let closed_h = d.closed * CHART_HEIGHT / top;
            let x = i as i64 * step;
            DayBar {
                x,
                closed_x: x + width,
                width,
                opened_y: CHART_HEIGHT - opened_h,
                opened_h,
                closed_y: CHART_HEIGHT - closed_h,
                closed_h,
                title: format!(
                    "{}: {} opened, {} closed",
                    d.day.format("%a %d %b"),
                    d.opened,
                    d.closed
                ),
                label: (i % every == 0).then(|| d.day.format("%d %b").to_string()),
            }
        })
        .collect()
}

fn heat_cells(report: &Report) -> Vec<HeatCell> {
    let top = report
        .inbound_by_hour
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let mut cells = Vec::with_capacity(7 * 24);
    for (weekday, hours) in report.inbound_by_hour.iter().enumerate() {
        for (hour, &n) in hours.iter().enumerate() {
            let share = if n == 0 {
                0.0
            } else {
                0.15 + 0.85 * n as f64 / top as f64
            };
            cells.push(HeatCell {
                x: 40 + hour as i64 * 22,
                y: weekday as i64 * 22,
                opacity: format!("{share:.2}"),
                title: format!(
                    "{} {hour:02}:00–{hour:02}:59: {n} inbound messages",
                    WEEKDAYS[weekday]
                ),
            });
        }
    }
    cells
}

#[derive(Template)]
#[template(path = "reports/index.html")]
struct ReportsPage {
    layout: Layout,
    query: ReportQuery,
    query_string: String,
    ranges: &'static [(&'static str, &'static str, i64)],
    channel_choices: Vec<(ChannelId, String)>,
    user_choices: Vec<(UserId, String)>,
    team_choices: Vec<(TeamId, String)>,
    /// Why the filters could not be read (the page comes back with 422 and no figures).
    error: Option<String>,
    report: Option<Report>,
    period: String,
    zone: String,
    bars: Vec<DayBar>,
    heat: Vec<HeatCell>,
    weekdays: [&'static str; 7],
    can_export: bool,
}

impl ReportsPage {
    fn spread(&self, s: &Spread) -> String {
        spread(s)
    }

    /// A label's share of the conversations opened, in whole percent.
    fn share(&self, count: &i64) -> i64 {
        let opened = self.report.as_ref().map_or(0, |r| r.totals.opened);
        if opened == 0 { 0 } else { count * 100 / opened }
    }

    fn chart_width(&self) -> i64 {
        let days = self.bars.len().max(1) as i64;
        days * (CHART_WIDTH / days).max(MIN_DAY_WIDTH)
    }
}

/// The viewer's zone and today's date in it.
fn zone_and_today(conn: &mut DbConnection, me: &Caller) -> Result<(Tz, NaiveDate), AppError> {
    let zone = reports::time_zone(conn, me.user_id())?;
    Ok((zone, zone.from_utc_datetime(&now()).date_naive()))
}

pub async fn index(cx: Cx, Query(query): Query<ReportQuery>) -> Answer {
    let asked = query.clone();
    let pool = cx.state.pool.clone();
    let (layout, (built, choices, zone)) = cx
        .read_page("Reports", "/reports", move |conn, me| {
            let (zone, today) = zone_and_today(conn, me)?;
            let built = match filters_or_reason(asked.filter(zone, today))? {
                Ok(filter) => {
                    let mut spare = pool.spare();
                    let report = reports::build(conn, spare.as_deref_mut(), &me.viewer, &filter)?;
                    Ok((report, filter))
                }
                Err(reason) => Err(reason),
            };
            Ok((built, reports::choices(conn, &me.viewer)?, zone))
        })
        .await?;
    let (report, error, period) = match built {
        Ok((report, filter)) => {
            let period = if filter.first_day == filter.last_day {
                filter.first_day.format("%a %d %b %Y").to_string()
            } else {
                format!(
                    "{} – {}",
                    filter.first_day.format("%d %b %Y"),
                    filter.last_day.format("%d %b %Y")
                )
            };
            (Some(report), None, period)
        }
        Err(message) => (None, Some(message), String::new()),
    };
    let (bars, heat) = match &report {
        Some(report) => (day_bars(report), heat_cells(report)),
        None => (Vec::new(), Vec::new()),
    };
    let page = ReportsPage {
        layout,
        query_string: query.query_string(),
        query,
        ranges: &RANGES,
        channel_choices: choices.channels,
        user_choices: choices.users,
        team_choices: choices.teams,
        error,
        report,
        period,
        zone: zone.name().to_string(),
        bars,
        heat,
        weekdays: WEEKDAYS,
        can_export: cx.can(Permission::ExportsCreate),
    };
    filtered_page(&page.error, &page)
}

/// The report's figures as CSV rows: section, name, figure, value (durations in seconds).
fn csv_rows(report: &Report, filter: &ReportFilter) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |section: &str, name: &str, figure: &str, value: String| {
        rows.push(vec![section.into(), name.into(), figure.into(), value]);
    };
    row("period", "", "first_day", filter.first_day.to_string());
    row("period", "", "last_day", filter.last_day.to_string());
    row("period", "", "time_zone", filter.zone.name().to_string());
    let counts = |row: &mut dyn FnMut(&str, &str, &str, String),
                  section: &str,
                  name: &str,
                  c: &reports::Counts| {
        row(section, name, "opened", c.opened.to_string());
        row(section, name, "closed", c.closed.to_string());
        row(section, name, "still_open", c.still_open.to_string());
        row(section, name, "missed_chats", c.missed_chats.to_string());
        row(section, name, "missed_calls", c.missed_calls.to_string());
        for (figure, s) in [
            ("first_response", &c.first_response),
            ("resolution", &c.resolution),
        ] {
            let seconds = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
            row(
                section,
                name,
                &format!("{figure}_median_s"),
                seconds(s.median),
            );
            row(section, name, &format!("{figure}_p90_s"), seconds(s.p90));
        }
    };
    counts(&mut row, "total", "", &report.totals);
    for line in &report.channels {
        counts(&mut row, "channel", &line.name, &line.counts);
    }
    for line in &report.agents {
        let w = &line.work;
        for (figure, value) in [
            ("handled", w.handled),
            ("replies", w.replies),
            ("closed", w.closed),
            ("open_now", w.open_now),
            ("transfers_in", w.transfers_in),
            ("transfers_out", w.transfers_out),
        ] {
            row("agent", &line.username, figure, value.to_string());
        }
        row(
            "agent",
            &line.username,
            "first_response_median_s",
            w.first_response
                .median
                .map(|v| v.to_string())
                .unwrap_or_default(),
        );
    }
    for line in &report.labels {
        row(
            "label",
            &line.label,
            "conversations",
            line.count.to_string(),
        );
    }
    for (weekday, hours) in report.inbound_by_hour.iter().enumerate() {
        for (hour, n) in hours.iter().enumerate() {
            let name = format!("{} {hour:02}", WEEKDAYS[weekday]);
            row("inbound_by_hour", &name, "messages", n.to_string());
        }
    }
    rows
}

pub async fn export(cx: Cx, Query(query): Query<ReportQuery>) -> Answer {
    let asked = query.clone();
    let filter = cx
        .read(move |conn, me| {
            let (zone, today) = zone_and_today(conn, me)?;
            asked.filter(zone, today)
        })
        .await?;
    let viewer = cx.user.viewer();
    let pool = cx.state.pool.clone();
    let fetch = move |conn: &mut DbConnection, _: Option<()>| {
        let mut spare = pool.spare();
        let report = reports::build(conn, spare.as_deref_mut(), &viewer, &filter)?;
        Ok((csv_rows(&report, &filter), None))
    };
    crate::web::oversight::stream_csv(
        &cx,
        "reports.csv",
        query.query_string(),
        &["section", "name", "figure", "value"],
        fetch,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(None), "—");
        assert_eq!(duration(Some(45)), "45 s");
        assert_eq!(duration(Some(12 * 60 + 5)), "12 min");
        assert_eq!(duration(Some(3 * 3600 + 5 * 60)), "3 h 05 min");
        assert_eq!(duration(Some(2 * 86400 + 4 * 3600)), "2 d 4 h");
    }

    #[test]
    fn ranges_and_days_are_read_or_refused() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap_or_default();
        let read = |q: &str| {
            serde_html_form::from_str::<ReportQuery>(q)
                .map_err(|_| ())
                .and_then(|q| q.filter(Tz::UTC, today).map_err(|_| ()))
                .map(|f| (f.first_day.to_string(), f.last_day.to_string()))
        };
        assert_eq!(read(""), Ok(("2026-11-27".into(), "2026-12-03".into())));
        assert_eq!(
            read("range=today"),
            Ok(("2026-12-03".into(), "2026-12-03".into()))
        );
        assert_eq!(
            read("range=30d"),
            Ok(("2026-11-04".into(), "2026-12-03".into()))
        );
        assert_eq!(
            read("from=2026-01-01&to=2026-01-31"),
            Ok(("2026-01-01".into(), "2026-01-31".into()))
        );
        assert!(read("range=year").is_err());
        assert!(read("from=2026-02-01&to=2026-01-01").is_err());
        assert!(read("from=2024-01-01&to=2026-01-01").is_err());
        assert!(read("from=yesterday").is_err());
        assert!(read("channel=abc").is_err());
        assert!(read("user=1%3B").is_err());
    }
}
