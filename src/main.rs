//! The `switchboard` binary: serve, demo, migrate, company/user creation, audit verification.

use std::io::BufRead;
use std::process::ExitCode;
use switchboard::core::text::count;

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use switchboard::config::{
    AuditCommand, Cli, Command, CompanyCommand, Config, LogFormat, UserCommand,
};
use switchboard::db::{self, DbConnection};
use switchboard::domain::users::NewUser;
use switchboard::domain::{Actor, audit, companies, conversations, demo, roles, users};
use switchboard::error::AppError;

/// mimalloc rather than glibc's allocator: a page is hundreds of small allocations (rows,
/// strings, the rendered HTML) freed together, and glibc's arenas spent a sixth of the inbox's
/// time in malloc and free (`scripts/bench-http` shows the difference).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        // one JSON object per line, the event's fields at the top level
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // one line with every cause, whatever the driver said (libpq's span several)
            let message = format!("{err:#}");
            let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("switchboard: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::from_cli(&cli).map_err(|message| anyhow!(message))?;
    // backups copy the database as it is: no migration first
    match &cli.command {
        Some(Command::Backup { to }) => {
            db::backup::backup(&config.database, to)?;
            println!("Backup written to {}.", to.display());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Restore { from }) => {
            db::backup::restore(&config.database, from)?;
            println!(
                "{} restored to {}; run `switchboard audit verify` to check it.",
                from.display(),
                config.database.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let mut conn = db::connect_single(&config.database)?;
    let applied = db::migrate(&mut conn)?;
    if applied > 0 {
        tracing::info!(applied, "migrations applied");
    }
    // rows written before the masked copies existed get theirs (a no-op afterwards)
    let filled = conversations::fill_masked_copies(&mut conn).map_err(describe)?;
    if filled > 0 {
        tracing::info!(filled, "masked search copies filled");
    }

    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            println!(
                "{} applied; the database is up to date.",
                count(applied, "migration", "migrations")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            drop(conn);
            serve(config)
        }
        Command::Demo => {
            let added = demo::seed(&mut conn).map_err(describe)?;
            drop(conn);
            print_demo_logins(&config, added);
            serve(config)
        }
        Command::Company(CompanyCommand::Create(args)) => {
            let password = read_password()?;
            let actor = Actor::cli();
            let (company, user) = db::write_transaction(&mut conn, |conn| {
                let company = companies::create(conn, &args.code, &args.name, &actor)?;
                let role = roles::find_by_name(conn, company.id, "Supervisor")?;
                let user = users::create(
                    conn,
                    &NewUser {
                        company_id: company.id,
                        username: &args.supervisor,
                        display_name: &args.supervisor,
                        email: None,
                        phone: None,
                        role_id: Some(role.id),
                        password: &password,
                        must_change_password: false,
                        channel_ids: &[],
                        granted_by: None,
                    },
                    &company.password_policy(),
                    &company.code,
                    &actor,
                )?;
                Ok((company, user))
            })
            .map_err(describe)?;
            println!(
                "Company {} ({}) created with supervisor {}.",
                company.code, company.name, user.username
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::Create(args)) => {
            let password = read_password()?;
            let user = create_user(&mut conn, &args, &password).map_err(describe)?;
            println!("User {} created.", user.username);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Verify { company }) => verify_audit(&mut conn, company),
        Command::Seed(args) => seed(&mut conn, &args),
        Command::Backup { .. } | Command::Restore { .. } => Ok(ExitCode::SUCCESS),
    }
}

fn serve(config: Config) -> anyhow::Result<ExitCode> {
    // a restore waits for this process to end
    let _in_use = db::backup::hold(&config.database)?;
    let pool = db::connect(&config.database)?;
    actix_web::rt::System::new().block_on(switchboard::serve(config, pool))?;
    Ok(ExitCode::SUCCESS)
}

fn create_user(
    conn: &mut DbConnection,
    args: &switchboard::config::UserCreate,
    password: &str,
) -> Result<users::User, AppError> {
    let company = companies::find_by_code(conn, &args.company)?
        .ok_or_else(|| AppError::Invalid(format!("No company has the code {}.", args.company)))?;
    let role = roles::find_by_name(conn, company.id, &args.role).map_err(|_| {
        AppError::Invalid(format!(
            "Company {} has no role named {}.",
            company.code, args.role
        ))
    })?;
    db::write_transaction(conn, |conn| {
        users::create(
            conn,
            &NewUser {
                company_id: company.id,
                username: &args.username,
                display_name: args.display_name.as_deref().unwrap_or(&args.username),
                email: args.email.as_deref(),
                phone: args.phone.as_deref(),
                role_id: Some(role.id),
                password,
                must_change_password: false,
                channel_ids: &[],
                granted_by: None,
            },
            &company.password_policy(),
            &company.code,
            &Actor::cli(),
        )
    })
}

fn verify_audit(conn: &mut DbConnection, company: Option<String>) -> anyhow::Result<ExitCode> {
    let targets: Vec<companies::Company> = match company {
        Some(code) => vec![
            companies::find_by_code(conn, &code)
                .map_err(describe)?
                .with_context(|| format!("no company has the code {code}"))?,
        ],
        None => companies::list(conn).map_err(describe)?,
    };
    let mut intact = true;
    for company in targets {
        match audit::verify(conn, company.id).map_err(describe)? {
            audit::Verification::Intact { records, head } => {
                println!(
                    "{}: intact, {}, head {head}",
                    company.code,
                    count(records, "record", "records")
                );
            }
            audit::Verification::Broken { seq, id, reason } => {
                intact = false;
                let id = id.map(|id| format!(" (id {id})")).unwrap_or_default();
                println!("{}: BROKEN at record {seq}{id}: {reason}", company.code);
            }
        }
    }
    Ok(if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `switchboard seed`: the company (created when missing) and the rows asked for, with the
/// time it took.
fn seed(
    conn: &mut db::DbConnection,
    args: &switchboard::config::SeedArgs,
) -> anyhow::Result<ExitCode> {
    let code = companies::normalize_code(&args.company).map_err(anyhow::Error::msg)?;
    let password = if companies::find_by_code(conn, &code)
        .map_err(describe)?
        .is_none()
    {
        read_password()?
    } else {
        String::new()
    };
    let started = std::time::Instant::now();
    let scale = switchboard::domain::scale::Scale {
        conversations: args.conversations,
        messages: args.messages,
        audit: args.audit,
        logins: args.logins,
    };
    switchboard::domain::scale::seed(conn, &code, &password, scale, |line| println!("{line}"))
        .map_err(describe)?;
    println!(
        "{code}: {} conversations, {} messages, {} activity records and {} sign-in attempts added in {:.1} s.",
        args.conversations,
        args.messages.max(args.conversations),
        args.audit,
        args.logins,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// `SWITCHBOARD_PASSWORD`, else the first line of standard input.
fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("SWITCHBOARD_PASSWORD") {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        bail!("give the password as the first line of standard input or in SWITCHBOARD_PASSWORD");
    }
    Ok(password)
}

/// What the operator reads: the message a form would show, or the error with its causes.
fn describe(err: AppError) -> anyhow::Error {
    match err {
        AppError::Invalid(message) | AppError::Conflict(message) => anyhow!(message),
        AppError::Fields(errors) => anyhow!(errors.sentence()),
        AppError::NotFound => anyhow!("not found"),
        other => anyhow::Error::from(other),
    }
}

fn print_demo_logins(config: &Config, added: bool) {
    println!();
    println!(
        "Switchboard demo workspace {}.",
        if added { "created" } else { "already present" }
    );
    println!("Open http://{} and sign in with one of:", config.bind);
    println!();
    println!("  company  username   role");
    for (company, username, role) in demo::DEMO_LOGINS {
        println!("  {company:<8} {username:<10} {role}");
    }
    println!();
    println!("Every demo password is {}", demo::PASSWORD);
    println!();
}
