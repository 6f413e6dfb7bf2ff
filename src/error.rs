//! One error type for the whole product, mapped to the status codes of CONTRACT.md.
//!
//! Error policy:
//! - Domain functions and handlers return `Result<_, AppError>`; nothing a client sends may
//!   end in a panic or a 500. `unwrap`/`expect` are denied by clippy outside tests.
//! - Not signed in → 303 to `/login?next=…` (401 + `HX-Redirect` for htmx). Missing permission
//!   → 403. Anything that does not exist, belongs to another company or is not visible to the
//!   user → 404, and the answer never says which of the three it was.
//! - Invalid form input is answered by the handler itself: 422 with the form and a message per
//!   field (`AppError::Fields`; forms are read by `web::forms`). Input that fits no form → 422
//!   with a plain message. A rule that forbids the action → 409 with what must happen first.
//! - The database being unreachable or failing → 503; the process keeps running.
//! - Messages shown to users never carry internal detail; the detail goes to the log, with the
//!   whole chain of causes (`Unavailable` and `Internal` keep theirs as `source`).
//! - Outside requests (start-up, the command line) errors are `anyhow::Result` with context.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No valid session; `next` is the local path to come back to.
    #[error("sign-in required")]
    SignInRequired {
        next: String,
        htmx: bool,
        /// Why the session ended, when it did (`Ended::code`), for the sign-in page to say.
        reason: Option<&'static str>,
    },
    #[error("permission missing")]
    Forbidden,
    #[error("CSRF check failed")]
    CsrfRejected,
    #[error("not found")]
    NotFound,
    /// A rule forbids the action; the message says what must happen first.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Input that cannot be processed where no form can be shown again.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// Form input with a message per field; handlers show the form again with them (422).
    #[error("invalid fields: {0:?}")]
    Fields(FieldErrors),
    /// A body over the form limit; answered 413 before anything reads it further.
    #[error("request body too large")]
    TooLarge,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// More password checks are waiting than the server takes on; answered 503 + Retry-After.
    #[error("busy checking passwords")]
    Busy { retry_after_secs: u64 },
    #[error("database unavailable: {context}")]
    Unavailable {
        context: String,
        #[source]
        source: Option<Cause>,
    },
    /// A broken invariant inside the server (never caused by input); logged, answered 503.
    #[error("internal error: {context}")]
    Internal {
        context: String,
        #[source]
        source: Option<Cause>,
    },
}

/// The underlying error of an `Unavailable` or `Internal`.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

impl AppError {
    /// A 422 naming one field and what is wrong with it.
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        Self::Fields(errors)
    }

    pub fn unavailable(context: impl Into<String>) -> Self {
        Self::Unavailable {
            context: context.into(),
            source: None,
        }
    }

    pub fn internal(context: impl Into<String>) -> Self {
        Self::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// An internal error caused by `source`.
    pub fn internal_from(context: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    fn unavailable_from(context: &str, source: impl Into<Cause>) -> Self {
        Self::Unavailable {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// This error and every cause below it, for the log.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(err) = cause {
            text.push_str(": ");
            text.push_str(&err.to_string());
            cause = err.source();
        }
        text
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
    request_id: Option<&'a str>,
}

tokio::task_local! {
    /// The id of the request being answered (set by `web::observe` around every request), so
    /// an error page can name it for the operator who reads the logs.
    pub static REQUEST_ID: String;
}

/// The id of the request this task answers, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

impl AppError {
    fn title_and_message(&self) -> (&'static str, String) {
        match self {
            Self::SignInRequired { .. } => ("Sign-in required", "Please sign in.".into()),
            Self::Forbidden => (
                "Access denied",
                "Your role does not include this page. Ask a supervisor if you need it.".into(),
            ),
            Self::CsrfRejected => (
                "Request refused",
                "This form has expired or did not come from Switchboard. Go back, reload the page and try again.".into(),
            ),
            Self::NotFound => ("Not found", "There is nothing here, or you cannot see it.".into()),
            Self::Conflict(message) => ("This cannot be done yet", message.clone()),
            Self::Invalid(message) => ("Invalid input", message.clone()),
            Self::Fields(errors) => ("Invalid input", errors.sentence()),
            Self::TooLarge => (
                "Too large",
                "This form holds more than Switchboard accepts. Shorten it and try again.".into(),
            ),
            Self::TooManyRequests { .. } => (
                "Too many attempts",
                "Too many failed sign-ins from your address. Wait a few minutes and try again.".into(),
            ),
            Self::Busy { .. } => (
                "Busy",
                "Many people are signing in right now. Try again in a moment.".into(),
            ),
            Self::Unavailable { .. } | Self::Internal { .. } => (
                "Temporarily unavailable",
                "Switchboard cannot reach its database right now. Try again in a moment.".into(),
            ),
        }
    }

    /// The error page alone, for middleware that answers before any handler runs.
    pub fn page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
        let request_id = current_request_id();
        let body = ErrorPage {
            status: status.as_u16(),
            title,
            message,
            request_id: request_id.as_deref(),
        }
        .render()
        .unwrap_or_else(|_| message.to_string());
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignInRequired { htmx: true, .. } => StatusCode::UNAUTHORIZED,
            Self::SignInRequired { htmx: false, .. } => StatusCode::SEE_OTHER,
            Self::Forbidden | Self::CsrfRejected => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Invalid(_) | Self::Fields(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy { .. } | Self::Unavailable { .. } | Self::Internal { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignInRequired {
                htmx: true, reason, ..
            } => HttpResponse::Unauthorized()
                .insert_header((
                    "HX-Redirect",
                    reason.map_or("/login".to_string(), |r| format!("/login?reason={r}")),
                ))
                .finish(),
            Self::SignInRequired {
                next,
                htmx: false,
                reason,
            } => {
                let mut location = format!("/login?next={}", encode_query_value(next));
                if let Some(reason) = reason {
                    location.push_str(&format!("&reason={reason}"));
                }
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location))
                    .finish()
            }
            other => {
                if let Self::Unavailable { .. } | Self::Internal { .. } = other {
                    tracing::error!(error = %other.chain(), "answering 503");
                }
                let (title, message) = other.title_and_message();
                let mut response = Self::page(self.status_code(), title, &message);
                // the guard shows it inside the navigation when someone is signed in
                response
                    .extensions_mut()
                    .insert(ShownError { title, message });
                if let Self::TooManyRequests { retry_after_secs } | Self::Busy { retry_after_secs } =
                    other
                    && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
                {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
        }
    }
}

/// What an error page said, kept on the answer so that a signed-in person's copy can be shown
/// with their navigation (`access::guard`).
#[derive(Clone, Debug)]
pub struct ShownError {
    pub title: &'static str,
    pub message: String,
}

/// Messages per form field, in the order they were found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn from_one(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    /// The value a field rule accepted, or its message noted against the field (and an empty
    /// value, never used: the form goes back with the errors).
    pub fn check<T: Default>(&mut self, field: &'static str, outcome: Result<T, String>) -> T {
        outcome.unwrap_or_else(|message| {
            self.add(field, message);
            T::default()
        })
    }

    /// The first message for a field (templates show one line per field).
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, message)| message.as_str())
    }

    /// Every message for a field.
    pub fn all(&self, field: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(name, _)| *name == field)
            .map(|(_, message)| message.as_str())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn sentence(&self) -> String {
        self.0
            .iter()
            .map(|(_, message)| message.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `Ok(())` when nothing was found, else the errors.
    pub fn into_result(self) -> Result<(), AppError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(AppError::Fields(self))
        }
    }
}

/// Sets a form's field errors apart from every other failure, so a handler can show the form
/// again with `?` on the rest: `match outcome.fields_apart()? { Ok(v) => …, Err(errors) => … }`.
pub trait FieldsApart<T> {
    fn fields_apart(self) -> Result<Result<T, FieldErrors>, AppError>;
}

impl<T> FieldsApart<T> for Result<T, AppError> {
    fn fields_apart(self) -> Result<Result<T, FieldErrors>, AppError> {
        match self {
            Ok(value) => Ok(Ok(value)),
            Err(AppError::Fields(errors)) => Ok(Err(errors)),
            Err(other) => Err(other),
        }
    }
}

/// Percent-encodes a value for a query string (RFC 3986 unreserved characters pass).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => Self::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                Self::Conflict("That already exists.".into())
            }
            // Input the entry points should have refused (a NUL, a date PostgreSQL cannot
            // hold): still the client's malformed value, never an outage.
            Error::DatabaseError(_, info)
                if info.message().contains("0x00") || info.message().contains("out of range") =>
            {
                Self::Invalid("A value cannot be stored: check the text and dates entered.".into())
            }
            // SQLite keeps a connection opened while its file was read-only that way: the
            // pool closes it (`db::run`), and the change may be tried again
            Error::DatabaseError(_, ref info) if info.message().contains("readonly database") => {
                Self::unavailable_from(READ_ONLY, err)
            }
            other => Self::unavailable_from("database query failed", other),
        }
    }
}

const READ_ONLY: &str = "the database accepts no changes";

impl AppError {
    /// The database refused a write because it (or this connection to it) is read-only.
    pub fn is_read_only_database(&self) -> bool {
        matches!(self, Self::Unavailable { context, .. } if context == READ_ONLY)
    }

    /// The database (or the pool) failed the work: an outage, a dropped connection, a
    /// read-only file; not a refusal of the caller's input.
    pub fn is_database_failure(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        Self::unavailable_from("no database connection", err)
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::internal_from("the blocking thread pool failed", err)
    }
}

impl From<askama::Error> for AppError {
    fn from(err: askama::Error) -> Self {
        Self::internal_from("a template failed to render", err)
    }
}
