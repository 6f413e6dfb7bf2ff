//! `/approvals`: one inbox of the requests the viewer may decide (each names the permission
//! needed) and of their own (to withdraw). A decision is applied by the module of what it is
//! about, in the same transaction.

use actix_web::web::Path;
use askama::Template;

use crate::core::ids::{ApprovalId, BroadcastId, RoleId, TemplateId};
use crate::core::status::ApprovalKind;
use crate::domain::approvals::{self, InboxLine};
use crate::domain::{broadcasts, roles, settings, templates};
use crate::error::{FieldErrors, FieldsApart};
use crate::web::layout::Layout;
use crate::web::message_templates::DecisionForm;
use crate::web::{Answer, Cx, Form, form_page};

#[derive(Template)]
#[template(path = "approvals/index.html")]
struct IndexPage {
    layout: Layout,
    lines: Vec<InboxLine>,
    errors: FieldErrors,
}

async fn index_page(cx: &Cx, errors: FieldErrors) -> Answer {
    let (layout, lines) = cx
        .read_page("Approvals", "/approvals", |conn, me| {
            approvals::inbox(conn, me)
        })
        .await?;
    let page = IndexPage {
        layout,
        lines,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn index(cx: Cx) -> Answer {
    index_page(&cx, FieldErrors::default()).await
}

async fn decide(cx: Cx, id: ApprovalId, approve: bool, reason: String) -> Answer {
    match cx
        .write(move |conn, me| {
            let request = approvals::get(conn, me.company_id, id)?;
            match request.kind {
                ApprovalKind::Template => {
                    templates::decide(conn, me, TemplateId(request.subject_id), approve, &reason)
                        .map(|()| false)
                }
                ApprovalKind::Broadcast => {
                    broadcasts::decide(conn, me, BroadcastId(request.subject_id), approve, &reason)
                        .map(|()| false)
                }
                ApprovalKind::RoleRaise => {
                    roles::decide_raise(conn, me, RoleId(request.subject_id), approve, &reason)
                        .map(|()| false)
                }
                ApprovalKind::Settings => settings::decide_change(conn, me, approve, &reason),
            }
        })
        .await
        .fields_apart()?
    {
        Ok(region_changed) => {
            if region_changed {
                crate::web::settings::rebuild_masked_copies(&cx);
            }
            Ok(cx.done(
                if approve { "Approved." } else { "Rejected." },
                "/approvals",
            ))
        }
        Err(errors) => index_page(&cx, errors).await,
    }
}

pub async fn approve(cx: Cx, id: Path<ApprovalId>) -> Answer {
    decide(cx, id.into_inner(), true, String::new()).await
}

pub async fn reject(cx: Cx, id: Path<ApprovalId>, Form(form): Form<DecisionForm>) -> Answer {
    decide(cx, id.into_inner(), false, form.reason).await
}

pub async fn withdraw(cx: Cx, id: Path<ApprovalId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| approvals::withdraw(conn, me, id).map(|_| ()))
        .await?;
    Ok(cx.done("Withdrawn: it is a draft again.", "/approvals"))
}
