//! Data-subject requests (`privacy.manage`): a customer's data as a JSON download.

use actix_web::HttpResponse;
use actix_web::web::Path;

use crate::core::ids::ContactId;
use crate::domain::privacy;
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
