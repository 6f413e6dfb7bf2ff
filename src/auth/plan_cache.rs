//! How each company's searches were last planned ([`SearchPlan`]), kept for a minute. A plan
//! changes what a search costs, never what it finds (both plans find the same conversations),
//! so an entry a minute old is safe, while it spares the two sample reads of
//! [`search_plan`] (half of a rare search's time on
//! PostgreSQL) to the search's next page, its reload, its live updates and each batch of its
//! export.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{NaiveDateTime, TimeDelta};

use crate::core::ids::CompanyId;
use crate::db::DbConnection;
use crate::domain::Viewer;
use crate::domain::conversations::{ListFilter, SearchPlan, search_plan};
use crate::error::AppError;

/// How long a plan serves: long enough for a person's paging, reloads and live updates, short
/// enough to follow the company's messages as they change.
pub const HELD_FOR: TimeDelta = TimeDelta::minutes(1);

/// Entries beyond this are dropped wholesale (each is two bounded reads to make again).
const MOST_ENTRIES: usize = 10_000;

/// Whose search of which text: a masked viewer searches the masked copies, which the sample
/// reads too.
type PlanKey = (CompanyId, bool, String);

#[derive(Default)]
pub struct PlanCache {
    by_key: Mutex<HashMap<PlanKey, (NaiveDateTime, SearchPlan)>>,
}

impl PlanCache {
    /// `filter` with the plan of its search named: as this cache holds it, or as chosen now
    /// (and kept). A filter that searches nothing, or names its plan, is returned as it is.
    pub fn planned(
        &self,
        conn: &mut DbConnection,
        viewer: &Viewer,
        mut filter: ListFilter,
        now: NaiveDateTime,
    ) -> Result<ListFilter, AppError> {
        let Some(q) = filter.unplanned_search() else {
            return Ok(filter);
        };
        let key = (
            viewer.company_id,
            viewer.contact_mask().is_masked(),
            q.to_string(),
        );
        let held = self
            .by_key
            .lock()
            .ok()
            .and_then(|plans| plans.get(&key).copied())
            .filter(|(chosen_at, _)| now - *chosen_at < HELD_FOR && *chosen_at <= now);
        let plan = match held {
            Some((_, plan)) => plan,
            None => {
                let plan = search_plan(conn, viewer, q)?;
                if let Ok(mut plans) = self.by_key.lock() {
                    if plans.len() >= MOST_ENTRIES {
                        plans.clear();
                    }
                    plans.insert(key, (now, plan));
                }
                plan
            }
        };
        filter.search_plan = Some(plan);
        Ok(filter)
    }
}
