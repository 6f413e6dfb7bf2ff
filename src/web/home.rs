//! `GET /`: the first page the user may open.

use actix_web::{HttpResponse, web};

use crate::access::{CurrentUser, RouteRules};
use crate::web::layout::{NAV, may_open};
use crate::web::see_other;

pub async fn index(user: CurrentUser, rules: web::Data<RouteRules>) -> HttpResponse {
    let first = NAV
        .iter()
        .map(|(href, _)| *href)
        .find(|href| may_open(&rules, &user, href))
        .unwrap_or("/account");
    see_other(first)
}
