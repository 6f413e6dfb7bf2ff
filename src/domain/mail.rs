//! Notification e-mails (optional: only when SMTP is configured). A notification is written
//! in the same transaction as the change it tells of; this sends it afterwards, from a
//! background task, so a slow or absent mail server never slows or fails a change. Each
//! notification is claimed by one instance before it is sent ([`notifications::claim_unmailed`]),
//! and a failed attempt is tried again later.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{SmtpTransport, Transport};

use crate::config::MailConfig;
use crate::db::{self, Pool};
use crate::domain::notifications::{self, Outgoing};
use crate::domain::now;
use crate::error::AppError;

/// E-mails claimed per round.
const BATCH: i64 = 50;

pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
    public_url: Option<String>,
}

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub failed: usize,
}

impl Mailer {
    pub fn new(config: &MailConfig) -> Result<Self, AppError> {
        let transport = SmtpTransport::from_url(&config.smtp_url)
            .map_err(|err| AppError::internal(format!("SMTP address: {err}")))?
            // a mail server that hangs holds one blocking thread for this long at most
            .timeout(Some(std::time::Duration::from_secs(15)))
            .build();
        Ok(Self {
            transport,
            from: config.from.clone(),
            public_url: config.public_url.clone(),
        })
    }

    /// Sends what is due: claims a batch, sends each outside any transaction, records the
    /// failures for a later attempt.
    pub async fn deliver(&self, pool: &Pool) -> Result<Round, AppError> {
        let claimed = db::write_outside_sessions(pool, |conn| {
            notifications::claim_unmailed(conn, now(), BATCH)
        })
        .await?;
        let mut round = Round::default();
        for outgoing in claimed {
            let sent = match self.message(&outgoing) {
                Ok(message) => {
                    let transport = self.transport.clone();
                    actix_web::web::block(move || transport.send(&message))
                        .await
                        .map_err(|err| err.to_string())
                        .and_then(|sent| sent.map(|_| ()).map_err(|err| err.to_string()))
                }
                Err(err) => Err(err),
            };
            match sent {
                Ok(()) => round.sent += 1,
                Err(err) => {
                    tracing::warn!(notification = %outgoing.id, error = %err, "e-mail not sent yet");
                    round.failed += 1;
                    db::write_outside_sessions(pool, move |conn| {
                        notifications::mail_failed(conn, &outgoing, now())
                    })
                    .await?;
                }
            }
        }
        Ok(round)
    }

    /// The e-mail of one notification: plain text, what happened and where to look.
    fn message(&self, outgoing: &Outgoing) -> Result<Message, String> {
        let to = Mailbox::new(
            Some(outgoing.display_name.clone()),
            outgoing
                .email
                .parse()
                .map_err(|err| format!("address: {err}"))?,
        );
        // one line, whatever the names in it held
        let subject: String = outgoing
            .summary
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(150)
            .collect();
        let mut body = format!("{}\n", outgoing.summary);
        if let Some(link) = &outgoing.link {
            match &self.public_url {
                Some(base) => body.push_str(&format!("\n{base}{link}\n")),
                None => body.push_str(&format!("\nIn Switchboard: {link}\n")),
            }
        }
        body.push_str(&format!(
            "\nYou receive this as a member of {} on Switchboard.\n",
            outgoing.company_name
        ));
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("Switchboard: {subject}"))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|err| format!("message: {err}"))
    }
}
