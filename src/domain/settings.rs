//! A company's security settings: password policy, session timeouts, lockout.

use diesel::prelude::*;

use crate::core::ids::ApprovalId;
use crate::core::masking::PhoneRegion;
use crate::core::permissions::Permission;
use crate::core::status::ApprovalKind;
use crate::db::schema::{companies, messages};
use crate::db::{DbConnection, LockSpace};
use crate::domain::companies::Company;
use crate::domain::{Caller, approvals, audit, validate};
use crate::error::{AppError, FieldErrors};

/// The settings as the form sends them (text, validated here).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct SettingsForm {
    pub password_min_length: String,
    pub password_require_upper: Option<String>,
    pub password_require_lower: Option<String>,
    pub password_require_digit: Option<String>,
    pub password_require_symbol: Option<String>,
    pub password_min_score: String,
    pub password_max_age_days: String,
    pub idle_timeout_minutes: String,
    pub session_lifetime_hours: String,
    pub lockout_threshold: String,
    pub end_session_on_client_change: Option<String>,
    pub reveal_daily_cap: String,
    pub missed_chat_minutes: String,
    /// ISO 3166 code (`TR`, `GB`); empty keeps the current region.
    pub phone_region: String,
    /// Routing's capacity for users without their own; empty keeps the current one.
    pub default_capacity: String,
    /// Minutes offline before a user's open conversations are routed again (0: never); empty
    /// keeps the current value.
    pub reroute_offline_minutes: String,
    /// Raising a role in use needs a second person's approval.
    pub approve_role_raises: Option<String>,
    /// Changing these settings needs a second person's approval.
    pub approve_settings_changes: Option<String>,
    /// An access review is due every 90 days.
    pub reviews_quarterly: Option<String>,
    /// Dormant accounts are deactivated automatically.
    pub deactivate_dormant: Option<String>,
    /// Days without a sign-in before an account counts as dormant; empty keeps the current.
    pub dormant_after_days: String,
    /// Days between regular access reviews; empty keeps the current.
    pub review_every_days: String,
    /// The critical permissions ticked (keys).
    pub critical_permissions: Vec<String>,
    /// Present when the form showed the critical permissions: without it they stay as they are
    /// (an unticked group sends nothing at all).
    pub critical_permissions_shown: Option<String>,
}

/// The settings as stored: one row of `companies`, read and written as one change set (and
/// kept whole in a request waiting for approval).
#[derive(AsChangeset, Queryable, Selectable, PartialEq, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = companies)]
struct SecuritySettings {
    password_min_length: i32,
    password_require_upper: bool,
    password_require_lower: bool,
    password_require_digit: bool,
    password_require_symbol: bool,
    password_min_score: i32,
    password_max_age_days: i32,
    idle_timeout_minutes: i32,
    session_lifetime_hours: i32,
    lockout_threshold: i32,
    end_session_on_client_change: bool,
    reveal_daily_cap: i32,
    missed_chat_minutes: i32,
    phone_region: String,
    default_capacity: i32,
    reroute_offline_minutes: i32,
    approve_role_raises: bool,
    approve_settings_changes: bool,
    reviews_quarterly: bool,
    dormant_after_days: i32,
    review_every_days: i32,
    critical_permissions: String,
    deactivate_dormant: bool,
}

impl SecuritySettings {
    /// What differs from `after`, in words: `idle timeout 30 → 15 min`.
    fn changes_to(&self, after: &Self) -> Vec<String> {
        let number = |label: &str, unit: &str, a: i32, b: i32| {
            (a != b).then(|| format!("{label} {a} → {b}{unit}"))
        };
        let flag = |label: &str, a: bool, b: bool| {
            let word = |on: bool| if on { "on" } else { "off" };
            (a != b).then(|| format!("{label} {} → {}", word(a), word(b)))
        };
        [
            number(
                "minimum length",
                "",
                self.password_min_length,
                after.password_min_length,
            ),
            flag(
                "upper case required",
                self.password_require_upper,
                after.password_require_upper,
            ),
            flag(
                "lower case required",
                self.password_require_lower,
                after.password_require_lower,
            ),
            flag(
                "digit required",
                self.password_require_digit,
                after.password_require_digit,
            ),
            flag(
                "symbol required",
                self.password_require_symbol,
                after.password_require_symbol,
            ),
            number(
                "strength score",
                "",
                self.password_min_score,
                after.password_min_score,
            ),
            number(
                "maximum password age",
                " days",
                self.password_max_age_days,
                after.password_max_age_days,
            ),
            number(
                "idle timeout",
                " min",
                self.idle_timeout_minutes,
                after.idle_timeout_minutes,
            ),
            number(
                "session lifetime",
                " h",
                self.session_lifetime_hours,
                after.session_lifetime_hours,
            ),
            number(
                "lockout after",
                " failures",
                self.lockout_threshold,
                after.lockout_threshold,
            ),
            flag(
                "end sessions on client change",
                self.end_session_on_client_change,
                after.end_session_on_client_change,
            ),
            number(
                "reveals per day",
                "",
                self.reveal_daily_cap,
                after.reveal_daily_cap,
            ),
            number(
                "missed chat after",
                " min",
                self.missed_chat_minutes,
                after.missed_chat_minutes,
            ),
            number(
                "default capacity",
                " open conversations",
                self.default_capacity,
                after.default_capacity,
            ),
            number(
                "route again after offline",
                " min",
                self.reroute_offline_minutes,
                after.reroute_offline_minutes,
            ),
            flag(
                "approval to raise a role in use",
                self.approve_role_raises,
                after.approve_role_raises,
            ),
            flag(
                "approval to change security settings",
                self.approve_settings_changes,
                after.approve_settings_changes,
            ),
            flag(
                "regular access reviews",
                self.reviews_quarterly,
                after.reviews_quarterly,
            ),
            number(
                "access review every",
                " days",
                self.review_every_days,
                after.review_every_days,
            ),
            flag(
                "deactivate dormant accounts",
                self.deactivate_dormant,
                after.deactivate_dormant,
            ),
            number(
                "dormant after",
                " days without a sign-in",
                self.dormant_after_days,
                after.dormant_after_days,
            ),
            (crate::domain::coverage::parse(&self.critical_permissions)
                != crate::domain::coverage::parse(&after.critical_permissions))
            .then(|| {
                let (before, now) = (
                    crate::domain::coverage::parse(&self.critical_permissions),
                    crate::domain::coverage::parse(&after.critical_permissions),
                );
                let keys = |list: Vec<&crate::core::permissions::Permission>| {
                    list.iter().map(|p| p.key()).collect::<Vec<_>>().join(", ")
                };
                let added = keys(now.iter().filter(|p| !before.contains(p)).collect());
                let removed = keys(before.iter().filter(|p| !now.contains(p)).collect());
                format!("critical permissions: added {added}; removed {removed}")
            }),
            (self.phone_region != after.phone_region).then(|| {
                format!(
                    "phone region {} → {}",
                    self.phone_region, after.phone_region
                )
            }),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

impl SettingsForm {
    pub fn from_company(company: &Company) -> Self {
        let flag = |on: bool| on.then(|| "on".to_string());
        Self {
            password_min_length: company.password_min_length.to_string(),
            password_require_upper: flag(company.password_require_upper),
            password_require_lower: flag(company.password_require_lower),
            password_require_digit: flag(company.password_require_digit),
            password_require_symbol: flag(company.password_require_symbol),
            password_min_score: company.password_min_score.to_string(),
            password_max_age_days: company.password_max_age_days.to_string(),
            idle_timeout_minutes: company.idle_timeout_minutes.to_string(),
            session_lifetime_hours: company.session_lifetime_hours.to_string(),
            lockout_threshold: company.lockout_threshold.to_string(),
            end_session_on_client_change: flag(company.end_session_on_client_change),
            reveal_daily_cap: company.reveal_daily_cap.to_string(),
            missed_chat_minutes: company.missed_chat_minutes.to_string(),
            phone_region: company.phone_region().code(),
            default_capacity: company.default_capacity.to_string(),
            reroute_offline_minutes: company.reroute_offline_minutes.to_string(),
            approve_role_raises: flag(company.approve_role_raises),
            approve_settings_changes: flag(company.approve_settings_changes),
            reviews_quarterly: flag(company.reviews_quarterly),
            deactivate_dormant: flag(company.deactivate_dormant),
            dormant_after_days: company.dormant_after_days.to_string(),
            review_every_days: company.review_every_days.to_string(),
            critical_permissions: crate::domain::coverage::parse(&company.critical_permissions)
                .into_iter()
                .map(|p| p.key().to_string())
                .collect(),
            critical_permissions_shown: Some("1".into()),
        }
    }
}

/// What became of a settings form.
#[derive(Debug, PartialEq, Eq)]
pub enum SettingsChange {
    /// Nothing differed: nothing saved, nothing recorded.
    Unchanged,
    /// Saved. A new phone region means the masked copies need rebuilding.
    Applied { region_changed: bool },
    /// The company wants a second person: it waits as this approval request.
    Requested(ApprovalId),
}

/// What a settings request applies once approved.
#[derive(serde::Serialize, serde::Deserialize)]
struct Proposal {
    /// The settings when asked: settings changed since are not changed by an old request.
    before: SecuritySettings,
    after: SecuritySettings,
}

/// The numbers of the settings form and the range each accepts: the form checks them and the
/// page states them beside each field, from this one table.
const NUMBER_RANGES: [(&str, i32, i32); 12] = [
    ("password_min_length", 8, 128),
    ("password_min_score", 0, 4),
    ("password_max_age_days", 0, 3650),
    ("idle_timeout_minutes", 1, 1440),
    ("session_lifetime_hours", 1, 720),
    ("lockout_threshold", 3, 100),
    ("reveal_daily_cap", 0, 1000),
    ("missed_chat_minutes", 1, 10_080),
    (
        "default_capacity",
        1,
        crate::domain::assignments::MAX_CAPACITY,
    ),
    ("reroute_offline_minutes", 0, 10_080),
    ("dormant_after_days", 7, 3650),
    ("review_every_days", 7, 730),
];

/// The range the settings form accepts for `field` (a field not in the table accepts none).
pub fn allowed_range(field: &str) -> (i32, i32) {
    NUMBER_RANGES
        .iter()
        .find(|(name, _, _)| *name == field)
        .map_or((1, 0), |(_, min, max)| (*min, *max))
}

/// Validates and saves; every rule that fails is named beside its field, and nothing is saved.
/// Where the company asks for it, the change waits for another holder of `settings.manage`
/// instead (turning that rule on applies at once: it only asks for more).
pub fn update(
    conn: &mut DbConnection,
    me: &Caller,
    form: &SettingsForm,
) -> Result<SettingsChange, AppError> {
    let company_id = me.company_id;
    let mut errors = FieldErrors::default();
    let mut number = |field: &'static str, value: &str, what: &str| {
        let (min, max) = allowed_range(field);
        validate::number_in(value, min, max, what)
            .map_err(|message| errors.add(field, message))
            .unwrap_or(min)
    };
    let min_length = number(
        "password_min_length",
        &form.password_min_length,
        "Minimum length",
    );
    let min_score = number(
        "password_min_score",
        &form.password_min_score,
        "Strength score",
    );
    let max_age = number(
        "password_max_age_days",
        &form.password_max_age_days,
        "Maximum age",
    );
    let idle = number(
        "idle_timeout_minutes",
        &form.idle_timeout_minutes,
        "Idle timeout",
    );
    let lifetime = number(
        "session_lifetime_hours",
        &form.session_lifetime_hours,
        "Session lifetime",
    );
    let lockout = number(
        "lockout_threshold",
        &form.lockout_threshold,
        "Failed sign-ins before lockout",
    );
    let reveal_cap = number(
        "reveal_daily_cap",
        &form.reveal_daily_cap,
        "Reveals per user per day",
    );
    let missed_after = number(
        "missed_chat_minutes",
        &form.missed_chat_minutes,
        "Minutes before a chat counts as missed",
    );
    let (code, before): (String, SecuritySettings) = companies::table
        .find(company_id)
        .select((companies::code, SecuritySettings::as_select()))
        .first(conn)?;
    // routing's two numbers: empty keeps what is set
    let mut kept_or_number = |field: &'static str, value: &str, current: i32, what: &str| {
        let (min, max) = allowed_range(field);
        match value.trim() {
            "" => current,
            typed => validate::number_in(typed, min, max, what)
                .map_err(|message| errors.add(field, message))
                .unwrap_or(current),
        }
    };
    let default_capacity = kept_or_number(
        "default_capacity",
        &form.default_capacity,
        before.default_capacity,
        "Default capacity",
    );
    let reroute_after = kept_or_number(
        "reroute_offline_minutes",
        &form.reroute_offline_minutes,
        before.reroute_offline_minutes,
        "Minutes offline before routing again",
    );
    let dormant_after_days = kept_or_number(
        "dormant_after_days",
        &form.dormant_after_days,
        before.dormant_after_days,
        "Days without a sign-in before an account counts as dormant",
    );
    let review_every_days = kept_or_number(
        "review_every_days",
        &form.review_every_days,
        before.review_every_days,
        "Days between access reviews",
    );
    let critical_permissions = if form.critical_permissions_shown.is_some() {
        let mut named = Vec::new();
        for key in &form.critical_permissions {
            match Permission::from_key(key.trim()) {
                Some(permission) => named.push(permission),
                None => errors.add(
                    "critical_permissions",
                    format!("{key} is not a permission of the catalog."),
                ),
            }
        }
        Permission::ALL
            .into_iter()
            .filter(|p| named.contains(p))
            .map(|p| p.key())
            .collect::<Vec<_>>()
            .join(",")
    } else {
        before.critical_permissions.clone()
    };
    let current_region = before.phone_region.clone();
    let region = match form.phone_region.trim() {
        "" => PhoneRegion::from_stored(&current_region),
        typed => PhoneRegion::parse(typed).unwrap_or_else(|| {
            errors.add(
                "phone_region",
                "Enter a two-letter country code, such as TR, GB or US.",
            );
            PhoneRegion::DEFAULT
        }),
    };
    if idle > lifetime.saturating_mul(60) {
        errors.add(
            "idle_timeout_minutes",
            "The idle timeout cannot be longer than the session lifetime.",
        );
    }
    errors.into_result()?;
    let settings = SecuritySettings {
        password_min_length: min_length,
        password_require_upper: form.password_require_upper.is_some(),
        password_require_lower: form.password_require_lower.is_some(),
        password_require_digit: form.password_require_digit.is_some(),
        password_require_symbol: form.password_require_symbol.is_some(),
        password_min_score: min_score,
        password_max_age_days: max_age,
        idle_timeout_minutes: idle,
        session_lifetime_hours: lifetime,
        lockout_threshold: lockout,
        end_session_on_client_change: form.end_session_on_client_change.is_some(),
        reveal_daily_cap: reveal_cap,
        missed_chat_minutes: missed_after,
        phone_region: region.code(),
        default_capacity,
        reroute_offline_minutes: reroute_after,
        approve_role_raises: form.approve_role_raises.is_some(),
        approve_settings_changes: form.approve_settings_changes.is_some(),
        reviews_quarterly: form.reviews_quarterly.is_some(),
        dormant_after_days,
        review_every_days,
        critical_permissions,
        deactivate_dormant: form.deactivate_dormant.is_some(),
    };
    let changes = before.changes_to(&settings);
    if changes.is_empty() {
        // no change, no record
        return Ok(SettingsChange::Unchanged);
    }
    if before.approve_settings_changes {
        return request(conn, me, before, settings, &changes).map(SettingsChange::Requested);
    }
    let region_changed = apply(conn, me, &code, &before, &settings, &changes)?;
    Ok(SettingsChange::Applied { region_changed })
}

/// Stores a change as a request for another holder of `settings.manage`; one at a time.
fn request(
    conn: &mut DbConnection,
    me: &Caller,
    before: SecuritySettings,
    after: SecuritySettings,
    changes: &[String],
) -> Result<ApprovalId, AppError> {
    // one waiting change per company, also when two are asked at once
    crate::db::serialize(conn, LockSpace::Settings, &me.company_id.to_string())?;
    if approvals::pending_about(conn, me.company_id, ApprovalKind::Settings, me.company_id.0)?
        .is_some()
    {
        return Err(AppError::Conflict(
            "A change of the security settings already waits for approval: decide or \
             withdraw it first."
                .into(),
        ));
    }
    let payload = serde_json::to_string(&Proposal { before, after })
        .map_err(|err| AppError::internal(format!("settings payload: {err}")))?;
    approvals::open_with(
        conn,
        me,
        ApprovalKind::Settings,
        me.company_id.0,
        Permission::SettingsManage,
        &format!("security settings: {}", changes.join(", ")),
        Some(&payload),
    )
}

/// Decides the waiting change of the settings: by another holder of `settings.manage`;
/// approved, it is applied in the same transaction, as that person's change — unless the
/// settings changed since it was asked (409). Returns whether the phone region changed.
pub fn decide_change(
    conn: &mut DbConnection,
    me: &Caller,
    approve: bool,
    reason: &str,
) -> Result<bool, AppError> {
    let company_id = me.company_id;
    let Some(request) =
        approvals::pending_about(conn, company_id, ApprovalKind::Settings, company_id.0)?
    else {
        return Err(AppError::Conflict(
            "No change of the security settings waits for a decision.".into(),
        ));
    };
    let proposal: Proposal = serde_json::from_str(request.payload.as_deref().unwrap_or(""))
        .map_err(|err| AppError::internal(format!("settings payload: {err}")))?;
    let (code, current): (String, SecuritySettings) = companies::table
        .find(company_id)
        .select((companies::code, SecuritySettings::as_select()))
        .first(conn)?;
    if approve && current != proposal.before {
        return Err(AppError::Conflict(
            "The security settings changed after this was asked: reject it and ask again.".into(),
        ));
    }
    approvals::decide(
        conn,
        me,
        ApprovalKind::Settings,
        company_id.0,
        approve,
        reason,
    )?;
    if !approve {
        return Ok(false);
    }
    let changes = current.changes_to(&proposal.after);
    apply(conn, me, &code, &current, &proposal.after, &changes)
}

/// Writes checked settings and their record. Returns whether the phone region changed.
fn apply(
    conn: &mut DbConnection,
    me: &Caller,
    code: &str,
    before: &SecuritySettings,
    settings: &SecuritySettings,
    changes: &[String],
) -> Result<bool, AppError> {
    let (company_id, actor) = (me.company_id, &me.actor);
    diesel::update(companies::table.find(company_id))
        .set(settings)
        .execute(conn)?;
    let region_changed = settings.phone_region != before.phone_region;
    if region_changed {
        // the masked copies were read with the old region: clear them, so that no search runs
        // on a stale copy; the background filler (and the next start) rebuilds them
        diesel::update(messages::table.filter(messages::company_id.eq(company_id)))
            .set(messages::body_masked.eq(None::<String>))
            .execute(conn)?;
    }
    if settings.default_capacity > before.default_capacity {
        // more room for everyone on the default: the queue may move
        crate::domain::routing::drain(conn, company_id)?;
    }
    audit::Entry::new(company_id, actor, "settings.update")
        .on("company", company_id, code)
        .saying(format!("security settings: {}", changes.join(", ")))
        .write(conn)?;
    Ok(region_changed)
}
