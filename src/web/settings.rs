//! `/settings`: the company's security settings (`settings.manage`).

use crate::error::FieldsApart;
use askama::Template;

use crate::core::permissions::Permission;
use crate::core::status::ApprovalKind;
use crate::core::text::grouped;
use crate::domain::settings::{self, SettingsChange, SettingsForm};
use crate::domain::{approvals, companies, conversations};
use crate::error::FieldErrors;
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, form_page};

#[derive(Template)]
#[template(path = "settings/index.html")]
struct SettingsPage {
    layout: Layout,
    form: SettingsForm,
    /// A change of these settings waiting for approval, if any.
    waiting: Option<approvals::Request>,
    /// Each critical permission and how many active users hold it.
    coverage: Vec<(Permission, i64)>,
    /// The company's roles, for the two-factor requirement (`require_two_factor`).
    roles: Vec<crate::domain::roles::Role>,
    /// A sealing key is configured, so people can enrol.
    two_factor_available: bool,
    errors: FieldErrors,
}

impl SettingsPage {
    /// What a number field accepts, as the page states it: "(1 to 1,440)".
    fn range(&self, field: &str) -> String {
        let (min, max) = crate::domain::settings::allowed_range(field);
        format!("({} to {})", grouped(min.into()), grouped(max.into()))
    }

    /// The catalog, for the critical permissions' checkboxes.
    fn catalog(&self) -> [Permission; Permission::ALL.len()] {
        Permission::ALL
    }

    fn is_critical(&self, permission: &Permission) -> bool {
        self.form
            .critical_permissions
            .iter()
            .any(|key| key == permission.key())
    }
}

async fn settings_page(cx: &Cx, form: Option<SettingsForm>, errors: FieldErrors) -> Answer {
    let (layout, (company, waiting, coverage, roles)) = cx
        .read_page("Settings", "/settings", |conn, me| {
            let company = companies::get(conn, me.company_id)?;
            let waiting = approvals::pending_about(
                conn,
                me.company_id,
                ApprovalKind::Settings,
                me.company_id.0,
            )?;
            let coverage = crate::domain::coverage::holders(conn, me.company_id)?;
            let roles = crate::domain::roles::list(conn, me.company_id)?;
            Ok((company, waiting, coverage, roles))
        })
        .await?;
    let form = form.unwrap_or_else(|| SettingsForm::from_company(&company));
    let page = SettingsPage {
        layout,
        form,
        waiting,
        coverage,
        roles,
        two_factor_available: cx.state.config.secret_key.is_some(),
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn show(cx: Cx) -> Answer {
    settings_page(&cx, None, FieldErrors::default()).await
}

pub async fn update(cx: Cx, Form(form): Form<SettingsForm>) -> Answer {
    let submitted = form.clone();
    match cx
        .write(move |conn, me| settings::update(conn, me, &submitted))
        .await
        .fields_apart()?
    {
        Ok(SettingsChange::Unchanged) => Ok(cx.done("Nothing was changed.", "/settings")),
        Ok(SettingsChange::Applied { region_changed }) => {
            if region_changed {
                rebuild_masked_copies(&cx);
            }
            Ok(cx.done("The security settings were saved.", "/settings"))
        }
        Ok(SettingsChange::Requested(_)) => Ok(cx.done(
            "The change waits for another person's approval: it applies once approved.",
            "/approvals",
        )),
        Err(errors) => settings_page(&cx, Some(form), errors).await,
    }
}

/// A new phone region: every message's masked copy is rebuilt, which can take a while, so
/// not in this request (the minutely sweep finishes a rebuild that stopped half-way).
pub(crate) fn rebuild_masked_copies(cx: &Cx) {
    let pool = cx.state.pool.clone();
    actix_web::rt::spawn(async move {
        let filled = crate::db::run_write(&pool, conversations::fill_masked_copies).await;
        if let Err(err) = filled {
            tracing::warn!(error = %err.chain(), "masked copies not rebuilt yet");
        }
    });
}

#[cfg(test)]
mod tests {
    /// A field the page names but the form does not check would read "(1 to 0)".
    #[test]
    fn every_range_the_page_states_is_one_the_form_checks() {
        let page = include_str!("../../templates/settings/index.html");
        let mut named = 0;
        for part in page.split("self.range(\"").skip(1) {
            let field = &part[..part.find('"').unwrap()];
            assert_ne!(
                crate::domain::settings::allowed_range(field),
                (1, 0),
                "{field}"
            );
            named += 1;
        }
        assert_eq!(named, 12);
    }
}
