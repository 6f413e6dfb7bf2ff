//! `GET /`: the first page the user may open.

use actix_web::HttpResponse;

use crate::web::layout::{NAV, may_open};
use crate::web::{Cx, see_other};

pub async fn index(cx: Cx) -> HttpResponse {
    let first = NAV
        .iter()
        .map(|(href, _)| *href)
        .find(|href| may_open(&cx.rules, &cx.user, href))
        .unwrap_or("/account");
    see_other(first)
}
