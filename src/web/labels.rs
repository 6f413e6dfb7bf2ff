//! `/labels` (`settings.manage`): the company's labels, and which of them are restricted to
//! some roles. What a restriction hides is decided by the visibility rule, not here.

use askama::Template;
use serde::Deserialize;

use crate::core::ids::RoleId;
use crate::domain::labels::{self, LabelSummary};
use crate::domain::roles::{self, Role};
use crate::error::{FieldErrors, FieldsApart};
use crate::web::forms::lenient;
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, form_page};

#[derive(Template)]
#[template(path = "labels/index.html")]
struct IndexPage {
    layout: Layout,
    labels: Vec<LabelSummary>,
    roles: Vec<Role>,
    form: LabelForm,
    errors: FieldErrors,
}

impl IndexPage {
    fn limits(&self, label: &LabelSummary, role: &RoleId) -> bool {
        label.roles.iter().any(|(id, _)| id == role)
    }

    fn chosen(&self, role: &RoleId) -> bool {
        self.form.restricted_role_ids.contains(&Some(*role))
    }
}

/// A label and the roles it is limited to (none: everyone who sees the conversation).
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct LabelForm {
    name: String,
    #[serde(deserialize_with = "lenient::ids")]
    restricted_role_ids: Vec<Option<RoleId>>,
    /// Its customers' data is not erased while a conversation carries it.
    legal_hold: Option<String>,
}

async fn index_page(cx: &Cx, form: LabelForm, errors: FieldErrors) -> Answer {
    let (layout, (list, role_list)) = cx
        .read_page("Labels", "/settings", |conn, me| {
            Ok((
                labels::list(conn, me.company_id)?,
                roles::list(conn, me.company_id)?,
            ))
        })
        .await?;
    let page = IndexPage {
        layout,
        labels: list,
        roles: role_list,
        form,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn index(cx: Cx) -> Answer {
    index_page(&cx, LabelForm::default(), FieldErrors::default()).await
}

pub async fn save(cx: Cx, Form(form): Form<LabelForm>) -> Answer {
    let submitted = form.clone();
    match cx
        .write(move |conn, me| {
            labels::restrict(
                conn,
                me,
                &submitted.name,
                &submitted.restricted_role_ids,
                submitted.legal_hold.is_some(),
            )
        })
        .await
        .fields_apart()?
    {
        Ok(_) => Ok(cx.done("The label was saved.", "/labels")),
        Err(errors) => index_page(&cx, form, errors).await,
    }
}
