//! Typed forms and query strings, read with `serde_html_form`: repeated keys fill a `Vec`,
//! `foo=` is `None` for an `Option`. Input that does not fit the struct is 422 with a plain
//! message; never 400 or 500.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::AppError;

use crate::access::guard::read_form_body;

/// A urlencoded form body as `T`.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(_: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // read up to the form limit the guard reads tokens to, not under the app's payload
        // limit (the hooks' JSON): a long reply in another script is a form too
        let payload = payload.take();
        Box::pin(async move {
            let body = read_form_body(payload).await.map_err(AppError::from)?;
            serde_html_form::from_bytes(&body)
                .map(Form)
                .map_err(|err| AppError::Invalid(format!("The form could not be read: {err}")))
        })
    }
}

/// The query string as `T`. A filter left at "any" arrives empty (`role=`, the form's first
/// option): it reads as absent, so every field of a query is an `Option` or a `Vec` and an
/// empty choice never fails to parse as an id.
pub struct Query<T>(pub T);

/// `a=1&b=&c&d=x` as `a=1&d=x` (a `=` or `&` inside a value is always percent-encoded).
fn without_empty_values(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            pair.split_once('=')
                .is_some_and(|(_, value)| !value.is_empty())
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let invalid = || AppError::Invalid("The filters in the address are not valid.".into());
        let query = req.query_string();
        // A NUL in a filter can be stored by neither database: malformed like any other value.
        // In a query string it can only arrive percent-encoded.
        std::future::ready(if query.contains("%00") {
            Err(invalid())
        } else {
            serde_html_form::from_str(&without_empty_values(query))
                .map(Query)
                .map_err(|_| invalid())
        })
    }
}

/// A list's keyset cursor from its link (`core::cursor`); empty is none, anything `format`
/// does not make is 422.
pub fn page_cursor<Id: std::str::FromStr>(
    value: Option<&str>,
) -> Result<Option<(chrono::NaiveDateTime, Id)>, AppError> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            crate::core::cursor::parse(v)
                .ok_or_else(|| AppError::Invalid("The page cursor is not valid.".into()))
        })
        .transpose()
}

/// A page's filters as read, or why they could not be: the page then comes back with its
/// form, the reason beside it, no rows, and 422 (never a bare error page without the form).
pub fn filters_or_reason<T>(read: Result<T, AppError>) -> Result<Result<T, String>, AppError> {
    match read {
        Ok(filters) => Ok(Ok(filters)),
        Err(AppError::Invalid(reason)) => Ok(Err(reason)),
        Err(other) => Err(other),
    }
}

/// 200, or 422 when the page's filters could not be read (`filters_or_reason`).
pub fn filtered_page(
    error: &Option<String>,
    template: &impl askama::Template,
) -> crate::web::Answer {
    let errors = match error {
        Some(reason) => crate::error::FieldErrors::from_one("filters", reason.clone()),
        None => crate::error::FieldErrors::default(),
    };
    crate::web::form_page(&errors, template)
}

/// A query string of the filters that are set (empty ones left out), for links that must
/// keep a page's filters: the next page, the export.
pub fn query_string<const N: usize>(pairs: [(&str, String); N]) -> String {
    let set: Vec<(&str, String)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    serde_html_form::to_string(set).unwrap_or_default()
}

/// "Hand these to one person" (a conversation transfer, an offboarding transfer): empty or
/// unparseable is `None`, which the domain refuses beside the field.
#[derive(serde::Deserialize)]
pub struct AssigneeForm {
    #[serde(default, deserialize_with = "lenient::id")]
    pub assignee_id: Option<crate::core::ids::UserId>,
}

/// Id fields that tolerate what does not parse, so the domain answers beside the field
/// ("choose one of the company's roles") and the form comes back with 422: `None` stands for
/// "nothing, or nothing that names a row". Use with `#[serde(default, deserialize_with = …)]`.
pub mod lenient {
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer};

    fn parse<T: FromStr>(text: &str) -> Option<T> {
        Some(text.trim()).filter(|t| !t.is_empty())?.parse().ok()
    }

    /// One id: blank or unparsable is `None`.
    pub fn id<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<Option<T>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.and_then(|text| parse(&text)))
    }

    /// Repeated ids (checkboxes): each unparsable value is kept as `None` so the domain can
    /// refuse it; blank values are dropped.
    pub fn ids<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<Vec<Option<T>>, D::Error> {
        Ok(Vec::<String>::deserialize(d)?
            .into_iter()
            .filter(|text| !text.trim().is_empty())
            .map(|text| parse(&text))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::without_empty_values;

    #[test]
    fn empty_filters_read_as_absent() {
        assert_eq!(without_empty_values("a=1&b=&c&d=x"), "a=1&d=x");
        assert_eq!(without_empty_values("q=%3D&r=%26"), "q=%3D&r=%26");
        assert_eq!(without_empty_values("q=+&&"), "q=+");
        assert_eq!(without_empty_values(""), "");
    }
}
