//! `/quick-replies`: the company's shared quick replies (written under `templates.manage`) and
//! each person's own; and the composer's picker, which fills one in for a conversation.

use actix_web::web::Path;
use askama::Template;
use serde::Deserialize;

use crate::core::ids::{ConversationId, QuickReplyId};
use crate::core::permissions::Permission;
use crate::domain::quick_replies::{self, Draft, Filling, PLACEHOLDERS, QuickReply};
use crate::domain::{companies, conversations};
use crate::error::{AppError, FieldErrors, FieldsApart};
use crate::web::forms::lenient;
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, form_page, page};

pub struct Line {
    reply: QuickReply,
    editable: bool,
}

#[derive(Template)]
#[template(path = "quick_replies/index.html")]
struct IndexPage {
    layout: Layout,
    lines: Vec<Line>,
    can_share: bool,
    placeholders: String,
    /// The new one's form as typed (kept on a 422).
    form: QuickReplyForm,
    /// The quick reply whose form the errors belong to (`None`: the new one's).
    failed: Option<QuickReplyId>,
    errors: FieldErrors,
}

impl IndexPage {
    fn is_failed(&self, id: &QuickReplyId) -> bool {
        self.failed.as_ref() == Some(id)
    }
}

/// A quick reply as its form sends it.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct QuickReplyForm {
    title: String,
    body: String,
    /// `on` when it is for the whole company.
    shared: Option<String>,
}

impl QuickReplyForm {
    fn draft(&self) -> Draft {
        Draft {
            title: self.title.clone(),
            body: self.body.clone(),
            shared: self.shared.as_deref().is_some_and(|s| !s.is_empty()),
        }
    }
}

async fn index_page(
    cx: &Cx,
    form: QuickReplyForm,
    failed: Option<QuickReplyId>,
    errors: FieldErrors,
) -> Answer {
    let can_share = cx.can(Permission::TemplatesManage);
    let (layout, replies) = cx
        .read_page("Quick replies", "/quick-replies", |conn, me| {
            quick_replies::usable(conn, me)
        })
        .await?;
    let page = IndexPage {
        layout,
        lines: replies
            .into_iter()
            .map(|reply| Line {
                editable: !reply.shared() || can_share,
                reply,
            })
            .collect(),
        can_share,
        placeholders: PLACEHOLDERS
            .iter()
            .map(|p| format!("{{{{{p}}}}}"))
            .collect::<Vec<_>>()
            .join(" "),
        form,
        failed,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn index(cx: Cx) -> Answer {
    index_page(&cx, QuickReplyForm::default(), None, FieldErrors::default()).await
}

pub async fn create(cx: Cx, Form(form): Form<QuickReplyForm>) -> Answer {
    let draft = form.draft();
    match cx
        .write(move |conn, me| quick_replies::create(conn, me, &draft))
        .await
        .fields_apart()?
    {
        Ok(_) => Ok(cx.done("The quick reply was saved.", "/quick-replies")),
        Err(errors) => index_page(&cx, form, None, errors).await,
    }
}

pub async fn update(cx: Cx, id: Path<QuickReplyId>, Form(form): Form<QuickReplyForm>) -> Answer {
    let id = id.into_inner();
    let draft = form.draft();
    match cx
        .write(move |conn, me| quick_replies::update(conn, me, id, &draft))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done("The quick reply was saved.", "/quick-replies")),
        Err(errors) => index_page(&cx, QuickReplyForm::default(), Some(id), errors).await,
    }
}

pub async fn delete(cx: Cx, id: Path<QuickReplyId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| quick_replies::delete(conn, me, id))
        .await?;
    Ok(cx.done("The quick reply was deleted.", "/quick-replies"))
}

/// The composer with a quick reply added to what was typed (htmx swaps it in).
#[derive(Template)]
#[template(path = "conversations/reply_form.html")]
struct Composer {
    conversation_id: ConversationId,
    csrf_token: String,
    oob: bool,
    reply_error: Option<String>,
    reply_body: String,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct InsertForm {
    #[serde(deserialize_with = "lenient::id")]
    quick_reply_id: Option<QuickReplyId>,
    body: String,
}

/// Fills a quick reply in for a conversation the user may see, from what they see of it.
pub async fn insert(cx: Cx, id: Path<ConversationId>, Form(form): Form<InsertForm>) -> Answer {
    let id = id.into_inner();
    let Some(reply_id) = form.quick_reply_id else {
        return Err(AppError::NotFound);
    };
    let agent_name = cx.user.auth.display_name.clone();
    let filled = cx
        .read(move |conn, me| {
            let conversation = conversations::row(conn, &me.viewer, id)?;
            let reply = quick_replies::get_usable(conn, me, reply_id)?;
            let company = companies::get(conn, me.company_id)?;
            Ok(quick_replies::fill(
                &reply.body,
                &Filling {
                    contact_name: &conversation.contact.name,
                    agent_name: &agent_name,
                    company_name: &company.name,
                },
            ))
        })
        .await?;
    let typed = form.body.trim_end();
    page(&Composer {
        conversation_id: id,
        csrf_token: cx.user.auth.csrf_token.clone(),
        oob: false,
        reply_error: None,
        reply_body: if typed.is_empty() {
            filled
        } else {
            format!("{typed}\n{filled}")
        },
    })
}
