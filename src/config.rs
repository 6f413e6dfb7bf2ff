//! The command line (clap) and the configuration it and the environment make: clap reads
//! each setting from its flag or its environment variable (a flag wins), `Config` checks them.

use std::net::{IpAddr, SocketAddr};

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

use crate::core::sealing::SealingKey;
use crate::db::DatabaseUrl;

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Switchboard: the team and access-control panel of an omnichannel messaging CRM"
)]
pub struct Cli {
    /// Database URL: sqlite://PATH (default sqlite://switchboard.db) or postgres://…
    #[arg(long, global = true, env = "SWITCHBOARD_DATABASE_URL")]
    pub database: Option<String>,

    /// `DATABASE_URL`, read when neither --database nor SWITCHBOARD_DATABASE_URL is set.
    #[arg(long = "database-url-fallback", env = "DATABASE_URL", hide = true)]
    pub database_fallback: Option<String>,

    /// Address to serve on.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_BIND",
        default_value = "127.0.0.1:8080"
    )]
    pub bind: String,

    /// Mark the session cookie Secure (true/false); default: off on a loopback address only.
    #[arg(long, global = true, env = "SWITCHBOARD_COOKIE_SECURE")]
    pub cookie_secure: Option<String>,

    /// Comma-separated CIDRs whose X-Forwarded-For is believed.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_TRUSTED_PROXIES",
        default_value = ""
    )]
    pub trusted_proxies: String,

    /// Failed sign-ins one address may make in 10 minutes before 429 (at least 30).
    #[arg(long, global = true, env = "SWITCHBOARD_LOGIN_FAILURE_LIMIT")]
    pub login_failure_limit: Option<String>,

    /// A MaxMind-format database for sign-in locations.
    #[arg(long, global = true, env = "SWITCHBOARD_GEOIP_DB")]
    pub geoip_db: Option<String>,

    /// Where to serve Prometheus metrics (`/metrics`), e.g. 127.0.0.1:9090; off when unset.
    /// Keep it off the public address: it is never behind the panel's sign-in.
    #[arg(long, global = true, env = "SWITCHBOARD_METRICS_BIND")]
    pub metrics_bind: Option<String>,

    /// Sign-ins that may wait for a password check (one per core runs at a time) before the
    /// next gets 503 with Retry-After.
    #[arg(long, global = true, env = "SWITCHBOARD_PASSWORD_QUEUE", default_value_t = DEFAULT_PASSWORD_QUEUE)]
    pub password_queue: usize,

    /// Send notifications by e-mail through this SMTP server as well, e.g.
    /// smtp://user:password@mail.example.com:587?tls=required or smtps://…:465; off when unset.
    #[arg(long, global = true, env = "SWITCHBOARD_SMTP_URL")]
    pub smtp_url: Option<String>,

    /// The sender of notification e-mails, e.g. `Switchboard <noreply@example.com>`
    /// (required with --smtp-url).
    #[arg(long, global = true, env = "SWITCHBOARD_MAIL_FROM")]
    pub mail_from: Option<String>,

    /// The panel's address as people reach it, e.g. `https://panel.example.com`: e-mails link to
    /// it (without it they name the page's path).
    #[arg(long, global = true, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The key that seals two-factor secrets at rest: 32 random bytes as base64 or 64 hex
    /// digits (`openssl rand -base64 32`). Keep it outside the database and its backups;
    /// without it two-factor enrolment is refused.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_SECRET_KEY",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,

    /// A file holding the secret key (instead of SWITCHBOARD_SECRET_KEY).
    #[arg(long, global = true, env = "SWITCHBOARD_SECRET_KEY_FILE")]
    pub secret_key_file: Option<String>,

    /// Log lines as `text` (the default) or `json` (one object per line).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the panel (migrations are applied first). The default.
    Serve,
    /// Seed the demo workspace if it is missing, print the demo logins, then serve.
    Demo,
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage companies.
    #[command(subcommand)]
    Company(CompanyCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Add a company the size of a large deployment, for sizing a machine: conversations and
    /// messages through the inbound hook's path, activity records and sign-in attempts. Run
    /// again to add as much again. A new company's supervisor password: first line of stdin
    /// or SWITCHBOARD_PASSWORD.
    Seed(SeedArgs),
    /// Copy the SQLite database to a new file while the panel serves (PostgreSQL: pg_dump).
    Backup {
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Replace the SQLite database with a backup; refused while a panel serves it.
    Restore {
        #[arg(long)]
        from: std::path::PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The company to create (with a supervisor, 20 agents and 5 channels) or add to.
    #[arg(long, default_value = "SCALE")]
    pub company: String,
    #[arg(long, default_value_t = 1_000)]
    pub conversations: usize,
    /// Messages in all, one per conversation at least.
    #[arg(long, default_value_t = 3_000)]
    pub messages: usize,
    /// Activity records.
    #[arg(long, default_value_t = 10_000)]
    pub audit: usize,
    /// Sign-in attempts.
    #[arg(long, default_value_t = 3_000)]
    pub logins: usize,
}

#[derive(Debug, Subcommand)]
pub enum CompanyCommand {
    /// Create a company and its first supervisor (password: first line of stdin or SWITCHBOARD_PASSWORD).
    Create(CompanyCreate),
}

#[derive(Debug, Args)]
pub struct CompanyCreate {
    #[arg(long)]
    pub code: String,
    #[arg(long)]
    pub name: String,
    /// Username of the first supervisor.
    #[arg(long)]
    pub supervisor: String,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (password: first line of stdin or SWITCHBOARD_PASSWORD).
    Create(UserCreate),
}

#[derive(Debug, Args)]
pub struct UserCreate {
    #[arg(long)]
    pub company: String,
    #[arg(long)]
    pub username: String,
    /// Role name, e.g. Supervisor, Agent or a custom role.
    #[arg(long)]
    pub role: String,
    #[arg(long)]
    pub display_name: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain; exit 0 when intact, non-zero naming the first broken record.
    Verify {
        #[arg(long)]
        company: Option<String>,
    },
}

/// Sign-ins waiting for a password check, beyond those running, before 503. Waiting costs no
/// memory to speak of (only a running check holds argon2's 19 MiB), so the bound is about
/// how long anyone should wait: 256 checks on two cores clear in a few seconds.
pub const DEFAULT_PASSWORD_QUEUE: usize = 256;

/// Failed sign-ins one address may make within the throttle window, unless configured higher.
pub const DEFAULT_IP_FAILURE_LIMIT: i64 = 30;

/// Everything the server needs to know, resolved from flags and environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub database: DatabaseUrl,
    pub bind: String,
    pub cookie_secure: bool,
    pub trusted_proxies: Vec<IpNet>,
    /// Failed sign-ins one address may make in 10 minutes before 429 (at least 30).
    pub ip_failure_limit: i64,
    /// A MaxMind-format database for sign-in locations, if any.
    pub geoip_db: Option<String>,
    /// Where `/metrics` is served, if anywhere.
    pub metrics_bind: Option<String>,
    /// Sign-ins that may wait for a password check before 503 (one check per core runs).
    pub password_queue: usize,
    /// E-mail delivery of notifications, if configured.
    pub mail: Option<MailConfig>,
    /// Seals two-factor secrets; without it enrolment is refused.
    pub secret_key: Option<SealingKey>,
}

/// The sealing key from `--secret-key` or `--secret-key-file`, if either is given.
fn secret_key_from_cli(cli: &Cli) -> Result<Option<SealingKey>, String> {
    let given = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    match (given(&cli.secret_key), given(&cli.secret_key_file)) {
        (Some(_), Some(_)) => {
            Err("give SWITCHBOARD_SECRET_KEY or SWITCHBOARD_SECRET_KEY_FILE, not both".to_string())
        }
        (Some(key), None) => SealingKey::parse(&key)
            .map(Some)
            .map_err(|err| format!("SWITCHBOARD_SECRET_KEY: {err}")),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path.trim())
                .map_err(|err| format!("cannot read SWITCHBOARD_SECRET_KEY_FILE {path}: {err}"))?;
            SealingKey::parse(&text)
                .map(Some)
                .map_err(|err| format!("SWITCHBOARD_SECRET_KEY_FILE {path}: {err}"))
        }
        (None, None) => Ok(None),
    }
}

/// Where notification e-mails go out and what they say they are from.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// lettre's SMTP URL (`smtp://`, `smtps://`; `?tls=required` for STARTTLS).
    pub smtp_url: String,
    pub from: lettre::message::Mailbox,
    /// The panel's base address for links, without a trailing slash.
    pub public_url: Option<String>,
}

impl MailConfig {
    /// The SMTP address for the log: a password in it is never written out.
    pub fn smtp_url_without_password(&self) -> String {
        match (self.smtp_url.find("://"), self.smtp_url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}://…{}", &self.smtp_url[..scheme], &self.smtp_url[at..])
            }
            _ => self.smtp_url.clone(),
        }
    }

    fn from_cli(cli: &Cli) -> Result<Option<Self>, String> {
        let given = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        let Some(smtp_url) = given(&cli.smtp_url) else {
            return Ok(None);
        };
        // checked now, so a mistake stops the start instead of every later e-mail
        lettre::SmtpTransport::from_url(&smtp_url)
            .map_err(|err| format!("SWITCHBOARD_SMTP_URL is not a usable SMTP address: {err}"))?;
        let from = given(&cli.mail_from)
            .ok_or("SWITCHBOARD_MAIL_FROM is needed with SWITCHBOARD_SMTP_URL")?;
        let from = from.trim().parse().map_err(|err| {
            format!("SWITCHBOARD_MAIL_FROM must be an address such as 'Switchboard <noreply@example.com>': {err}")
        })?;
        let public_url = match given(&cli.public_url) {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Some(url.trim().trim_end_matches('/').to_string())
            }
            Some(url) => {
                return Err(format!(
                    "SWITCHBOARD_PUBLIC_URL must start with https:// or http://, not '{url}'"
                ));
            }
            None => None,
        };
        Ok(Some(Self {
            smtp_url,
            from,
            public_url,
        }))
    }
}

impl Config {
    pub fn from_cli(cli: &Cli) -> Result<Self, String> {
        let database = cli
            .database
            .clone()
            .or_else(|| cli.database_fallback.clone())
            .unwrap_or_else(|| "sqlite://switchboard.db".into());
        let database = DatabaseUrl::parse(&database)?;
        let cookie_secure = match &cli.cookie_secure {
            Some(value) => parse_bool(value).ok_or_else(|| {
                format!("SWITCHBOARD_COOKIE_SECURE must be true or false, not '{value}'")
            })?,
            None => !is_loopback(&cli.bind),
        };
        let ip_failure_limit = match &cli.login_failure_limit {
            Some(value) => value
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= DEFAULT_IP_FAILURE_LIMIT)
                .ok_or_else(|| format!("SWITCHBOARD_LOGIN_FAILURE_LIMIT must be a whole number of at least 30, not '{value}'"))?,
            None => DEFAULT_IP_FAILURE_LIMIT,
        };
        Ok(Self {
            database,
            bind: cli.bind.clone(),
            cookie_secure,
            trusted_proxies: parse_proxies(&cli.trusted_proxies)?,
            ip_failure_limit,
            geoip_db: cli.geoip_db.clone().filter(|p| !p.trim().is_empty()),
            metrics_bind: cli.metrics_bind.clone().filter(|b| !b.trim().is_empty()),
            password_queue: cli.password_queue,
            mail: MailConfig::from_cli(cli)?,
            secret_key: secret_key_from_cli(cli)?,
        })
    }

    /// A configuration for tests and tools: local, cookies not Secure, no proxies.
    pub fn local(database: DatabaseUrl) -> Self {
        Self {
            database,
            bind: "127.0.0.1:0".into(),
            cookie_secure: false,
            trusted_proxies: Vec::new(),
            ip_failure_limit: DEFAULT_IP_FAILURE_LIMIT,
            geoip_db: None,
            metrics_bind: None,
            password_queue: DEFAULT_PASSWORD_QUEUE,
            mail: None,
            secret_key: None,
        }
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// True for 127.0.0.0/8, ::1 and `localhost`.
fn is_loopback(bind: &str) -> bool {
    if let Ok(addr) = bind.parse::<SocketAddr>() {
        return addr.ip().is_loopback();
    }
    let host = bind.rsplit_once(':').map_or(bind, |(host, _)| host);
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A comma-separated list of CIDRs (a bare address counts as a single host).
pub fn parse_proxies(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("SWITCHBOARD_TRUSTED_PROXIES: '{part}' is not a CIDR or address")
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_cookies_default_by_bind_address() {
        assert!(is_loopback("127.0.0.1:8080"));
        assert!(is_loopback("[::1]:8080"));
        assert!(is_loopback("localhost:8080"));
        assert!(!is_loopback("0.0.0.0:8080"));
        assert!(!is_loopback("10.1.2.3:80"));
    }

    #[test]
    fn proxies_parse() {
        assert_eq!(parse_proxies("").map(|v| v.len()), Ok(0));
        assert_eq!(
            parse_proxies("10.0.0.0/8, 192.168.1.1").map(|v| v.len()),
            Ok(2)
        );
        assert!(parse_proxies("nonsense").is_err());
    }

    fn mail_from(args: &[&str]) -> Result<Option<MailConfig>, String> {
        let mut argv = vec!["switchboard"];
        argv.extend_from_slice(args);
        MailConfig::from_cli(&Cli::parse_from(argv))
    }

    #[test]
    fn mail_is_off_unless_configured_and_checked_when_it_is() {
        assert!(matches!(mail_from(&[]), Ok(None)));
        let config = mail_from(&[
            "--smtp-url",
            "smtp://robot:s3cret@mail.example.com:587?tls=required",
            "--mail-from",
            "Switchboard <noreply@example.com>",
            "--public-url",
            "https://panel.example.com/",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://panel.example.com")
        );
        assert_eq!(
            config.smtp_url_without_password(),
            "smtp://…@mail.example.com:587?tls=required"
        );
        let refused = |args: &[&str], says: &str| {
            let err = mail_from(args).unwrap_err();
            assert!(err.contains(says), "{err}");
        };
        refused(
            &["--smtp-url", "smtp://mail.example.com"],
            "SWITCHBOARD_MAIL_FROM is needed",
        );
        refused(
            &[
                "--smtp-url",
                "gopher://mail.example.com",
                "--mail-from",
                "a@b.example",
            ],
            "SWITCHBOARD_SMTP_URL",
        );
        refused(
            &[
                "--smtp-url",
                "smtp://mail.example.com",
                "--mail-from",
                "not an address",
            ],
            "SWITCHBOARD_MAIL_FROM must be",
        );
        refused(
            &[
                "--smtp-url",
                "smtp://mail.example.com",
                "--mail-from",
                "a@b.example",
                "--public-url",
                "panel.example.com",
            ],
            "SWITCHBOARD_PUBLIC_URL",
        );
    }
}
