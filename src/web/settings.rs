//! `/settings`: the company's security settings (`settings.manage`).

use crate::error::FieldsApart;
use askama::Template;

use crate::domain::settings::{self, SettingsForm};
use crate::domain::{companies, conversations};
use crate::error::FieldErrors;
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, form_page};

#[derive(Template)]
#[template(path = "settings/index.html")]
struct SettingsPage {
    layout: Layout,
    form: SettingsForm,
    errors: FieldErrors,
}

async fn settings_page(cx: &Cx, form: Option<SettingsForm>, errors: FieldErrors) -> Answer {
    let (layout, company) = cx
        .read_page("Settings", "/settings", |conn, me| {
            companies::get(conn, me.company_id)
        })
        .await?;
    let form = form.unwrap_or_else(|| SettingsForm::from_company(&company));
    let page = SettingsPage {
        layout,
        form,
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
        Ok(region_changed) => {
            if region_changed {
                // rebuilding every message's masked copy can take a while: not in this request
                let pool = cx.state.pool.clone();
                actix_web::rt::spawn(async move {
                    let filled = crate::db::run(&pool, conversations::fill_masked_copies).await;
                    if let Err(err) = filled {
                        tracing::warn!(error = %err.chain(), "masked copies not rebuilt yet");
                    }
                });
            }
            Ok(cx.done("The security settings were saved.", "/settings"))
        }
        Err(errors) => settings_page(&cx, Some(form), errors).await,
    }
}
