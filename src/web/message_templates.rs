//! `/templates`: WhatsApp-style message templates, drafted under `templates.manage` and
//! decided under `templates.approve` (never by their author); and the composer's sending of an
//! approved one (`POST /conversations/{id}/template`).

use actix_web::web::Path;
use askama::Template as Page;
use serde::Deserialize;

use crate::core::ids::{ConversationId, TemplateId};
use crate::core::permissions::Permission;
use crate::core::status::{TemplateCategory, TemplateStatus};
use crate::domain::conversations::{self, Writing};
use crate::domain::templates::{self, Draft, Listed, Template};
use crate::error::{FieldErrors, FieldsApart};
use crate::web::forms::lenient;
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, form_page};

/// A template as its form sends it.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct TemplateForm {
    name: String,
    language: String,
    category: String,
    body: String,
}

impl TemplateForm {
    fn draft(&self) -> Draft {
        Draft {
            name: self.name.clone(),
            language: self.language.clone(),
            category: self.category.clone(),
            body: self.body.clone(),
        }
    }
}

#[derive(Page)]
#[template(path = "message_templates/index.html")]
struct IndexPage {
    layout: Layout,
    templates: Vec<Listed>,
    categories: &'static [TemplateCategory],
    can_write: bool,
    form: TemplateForm,
    errors: FieldErrors,
}

async fn index_page(cx: &Cx, form: TemplateForm, errors: FieldErrors) -> Answer {
    let (layout, list) = cx
        .read_page("Templates", "/templates", |conn, me| {
            templates::list(conn, me.company_id)
        })
        .await?;
    let page = IndexPage {
        layout,
        templates: list,
        categories: TemplateCategory::ALL,
        can_write: cx.can(Permission::TemplatesManage),
        form,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn index(cx: Cx) -> Answer {
    index_page(&cx, TemplateForm::default(), FieldErrors::default()).await
}

pub async fn create(cx: Cx, Form(form): Form<TemplateForm>) -> Answer {
    let draft = form.draft();
    match cx
        .write(move |conn, me| templates::create(conn, me, &draft))
        .await
        .fields_apart()?
    {
        Ok(id) => Ok(cx.done(
            "The template was drafted. Submit it for approval when it reads right.",
            format!("/templates/{id}"),
        )),
        Err(errors) => index_page(&cx, form, errors).await,
    }
}

#[derive(Page)]
#[template(path = "message_templates/show.html")]
struct ShowPage {
    layout: Layout,
    template: Template,
    author: String,
    categories: &'static [TemplateCategory],
    can_write: bool,
    /// The viewer may decide it now (approver, not the author, submitted).
    can_decide: bool,
    form: TemplateForm,
    errors: FieldErrors,
}

impl ShowPage {
    fn editable(&self) -> bool {
        self.can_write && self.template.status != TemplateStatus::Submitted
    }

    fn submittable(&self) -> bool {
        self.can_write
            && matches!(
                self.template.status,
                TemplateStatus::Draft | TemplateStatus::Rejected
            )
    }
}

async fn show_page(
    cx: &Cx,
    id: TemplateId,
    submitted: Option<TemplateForm>,
    errors: FieldErrors,
) -> Answer {
    let (mut layout, (template, author)) = cx
        .read_page("", "/templates", move |conn, me| {
            let template = templates::get(conn, me.company_id, id)?;
            let author =
                crate::domain::accounts::get(conn, me.company_id, template.author_id)?.display_name;
            Ok((template, author))
        })
        .await?;
    layout.title = template.title();
    let form = submitted.unwrap_or_else(|| TemplateForm {
        name: template.name.clone(),
        language: template.language.clone(),
        category: template.category.to_string(),
        body: template.body.clone(),
    });
    let page = ShowPage {
        layout,
        can_decide: cx.can(Permission::TemplatesApprove)
            && template.author_id != cx.user.auth.user_id
            && template.status == TemplateStatus::Submitted,
        template,
        author,
        categories: TemplateCategory::ALL,
        can_write: cx.can(Permission::TemplatesManage),
        form,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn show(cx: Cx, id: Path<TemplateId>) -> Answer {
    show_page(&cx, id.into_inner(), None, FieldErrors::default()).await
}

pub async fn update(cx: Cx, id: Path<TemplateId>, Form(form): Form<TemplateForm>) -> Answer {
    let id = id.into_inner();
    let draft = form.draft();
    match cx
        .write(move |conn, me| templates::update(conn, me, id, &draft))
        .await
        .fields_apart()?
    {
        Ok(saved) if saved == id => Ok(cx.done("The draft was saved.", format!("/templates/{id}"))),
        Ok(saved) => Ok(cx.done(
            "An approved template does not change: this is a new version, to be approved again.",
            format!("/templates/{saved}"),
        )),
        Err(errors) => show_page(&cx, id, Some(form), errors).await,
    }
}

pub async fn submit(cx: Cx, id: Path<TemplateId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| templates::submit(conn, me, id))
        .await?;
    Ok(cx.done(
        "Submitted: it waits in the approvals of those who approve templates.",
        format!("/templates/{id}"),
    ))
}

/// A decision's form: the reason (a rejection needs one).
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    pub reason: String,
}

pub async fn approve(cx: Cx, id: Path<TemplateId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| templates::decide(conn, me, id, true, ""))
        .await?;
    Ok(cx.done(
        "Approved: agents may send it now.",
        format!("/templates/{id}"),
    ))
}

pub async fn reject(cx: Cx, id: Path<TemplateId>, Form(form): Form<DecisionForm>) -> Answer {
    let id = id.into_inner();
    match cx
        .write(move |conn, me| templates::decide(conn, me, id, false, &form.reason))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done(
            "Rejected, with your reason for the author.",
            format!("/templates/{id}"),
        )),
        Err(errors) => show_page(&cx, id, None, errors).await,
    }
}

/// The composer's template form: which approved template, and its values in order.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct SendTemplateForm {
    #[serde(deserialize_with = "lenient::id")]
    template_id: Option<TemplateId>,
    values: Vec<String>,
}

/// Sends an approved template into a conversation (the reply permission, the conversation
/// visible as everywhere): 404 for a template that is not approved, 422 for missing values.
pub async fn send_in_conversation(
    cx: Cx,
    id: Path<ConversationId>,
    Form(form): Form<SendTemplateForm>,
) -> Answer {
    let id = id.into_inner();
    let sent = cx
        .write(move |conn, me| {
            let template_id = form.template_id.ok_or(crate::error::AppError::NotFound)?;
            let template = templates::sendable(conn, me.company_id, template_id)?;
            // trailing empty boxes are values not needed
            let mut values = form.values.clone();
            while values.last().is_some_and(|v| v.trim().is_empty()) {
                values.pop();
            }
            let text = templates::fill(&template, &values)?;
            conversations::reply(conn, me, id, &text, Writing::Reply)
        })
        .await
        .fields_apart()?;
    match sent {
        Ok(_) => Ok(cx.done("The template was sent.", format!("/conversations/{id}"))),
        Err(errors) => crate::web::conversations::show_page(&cx, id, errors, String::new()).await,
    }
}
