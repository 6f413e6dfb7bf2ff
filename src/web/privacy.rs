//! `privacy.manage`: data-subject requests (a customer's data as a JSON download, erasure)
//! and the company's retention (`/privacy`).

use actix_web::HttpResponse;
use actix_web::web::Path;

use crate::core::ids::ContactId;
use crate::domain::{privacy, retention};
use crate::error::AppError;
use crate::web::{Answer, Cx};

/// `GET /contacts/{id}/export`: everything held about the contact, recorded.
pub async fn export_contact(cx: Cx, id: Path<ContactId>) -> Answer {
    let id = id.into_inner();
    let document = cx
        .write(move |conn, me| privacy::subject_export(conn, me, id))
        .await?;
    let body = serde_json::to_vec_pretty(&document)
        .map_err(|err| AppError::internal(format!("export document: {err}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"contact-{id}.json\""),
        ))
        .body(body))
}

#[derive(askama::Template)]
#[template(path = "privacy/erase.html")]
struct ErasePage {
    layout: crate::web::layout::Layout,
    contact_id: ContactId,
    /// What to type to confirm.
    expected: String,
    errors: crate::error::FieldErrors,
}

async fn erase_page(cx: &Cx, id: ContactId, errors: crate::error::FieldErrors) -> Answer {
    let (layout, expected) = cx
        .read_page(
            "Erase a customer's data",
            "/conversations",
            move |conn, me| privacy::erase_confirmation(conn, me, id),
        )
        .await?;
    let page = ErasePage {
        layout,
        contact_id: id,
        expected,
        errors,
    };
    crate::web::form_page(&page.errors, &page)
}

/// `GET /contacts/{id}/erase`: what erasure does, and the confirmation it needs.
pub async fn erase_form(cx: Cx, id: Path<ContactId>) -> Answer {
    erase_page(&cx, id.into_inner(), crate::error::FieldErrors::default()).await
}

#[derive(Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct EraseForm {
    confirm: String,
}

/// `POST /contacts/{id}/erase` (`confirm` = the contact's masked phone as shown).
pub async fn erase(
    cx: Cx,
    id: Path<ContactId>,
    crate::web::Form(form): crate::web::Form<EraseForm>,
) -> Answer {
    use crate::error::FieldsApart;
    let id = id.into_inner();
    match cx
        .write(move |conn, me| privacy::erase(conn, me, id, &form.confirm))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done(
            "The customer's personal data was erased everywhere. Counts and times stay.",
            "/conversations",
        )),
        Err(errors) => erase_page(&cx, id, errors).await,
    }
}

#[derive(askama::Template)]
#[template(path = "privacy/index.html")]
struct RetentionPage {
    layout: crate::web::layout::Layout,
    form: retention::RetentionForm,
    last_purge: Option<(chrono::NaiveDateTime, String)>,
    errors: crate::error::FieldErrors,
}

async fn retention_page(
    cx: &Cx,
    form: Option<retention::RetentionForm>,
    errors: crate::error::FieldErrors,
) -> Answer {
    let (layout, (saved, last_purge)) = cx
        .read_page("Privacy", "/privacy", |conn, me| {
            Ok((
                retention::of_company(conn, me.company_id)?,
                retention::last_purge(conn, me.company_id)?,
            ))
        })
        .await?;
    let page = RetentionPage {
        layout,
        form: form.unwrap_or_else(|| retention::RetentionForm::of(&saved)),
        last_purge,
        errors,
    };
    crate::web::form_page(&page.errors, &page)
}

/// `GET /privacy`: the company's retention and the last purge.
pub async fn index(cx: Cx) -> Answer {
    retention_page(&cx, None, crate::error::FieldErrors::default()).await
}

/// `POST /privacy` (`messages_days`, `logins_days`, `sessions_days`; empty keeps for ever).
pub async fn update(
    cx: Cx,
    crate::web::Form(form): crate::web::Form<retention::RetentionForm>,
) -> Answer {
    use crate::error::FieldsApart;
    let submitted = form.clone();
    match cx
        .write(move |conn, me| retention::update(conn, me, &submitted))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done("Retention saved. The hourly purge applies it.", "/privacy")),
        Err(errors) => retention_page(&cx, Some(form), errors).await,
    }
}
