//! `POST /hooks/channels/{id}/messages`: inbound channel traffic, authenticated by the
//! channel's bearer token (no session, no CSRF). Answers are JSON.

use super::Answer;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::core::ids::ChannelId;
use crate::domain::inbound::{self, Refusal};
use crate::web::Visitor;

/// The largest body accepted (413 above it).
pub const BODY_LIMIT: usize = 64 * 1024;

fn answer(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

pub async fn receive(
    Visitor { req, state, .. }: Visitor,
    path: web::Path<ChannelId>,
    body: web::Bytes,
) -> Answer {
    let channel_id = path.into_inner();
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim()
        .to_string();
    let outcome = crate::db::run_write(&state.pool, move |conn| {
        inbound::receive(conn, channel_id, &bearer, &body)
    })
    .await?;
    Ok(match outcome {
        Err(Refusal::Unauthorized) => {
            answer(StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"}))
        }
        Err(Refusal::Malformed(message)) => {
            answer(StatusCode::BAD_REQUEST, json!({"error": message}))
        }
        Ok(stored) => answer(
            if stored.created() {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            json!(stored),
        ),
    })
}
