//! `linli`: one binary that serves the web application and administers its database.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use linli::admin::{self, CommunitySpec, RoleScope};
use linli::config::{self, FileConfig};
use linli::demo;
use linli_domain::auth::{NewPassword, Role, Username};
use linli_store::{Db, Engine, check, tenancy};
use linli_web::crypto::DataKey;
use linli_web::{AppState, Settings};

/// mimalloc instead of glibc's allocator: a list page allocates thousands of small strings
/// on one thread and frees them on another; glibc spent a fifth of the server's time in
/// malloc/free and arena consolidation under load (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "linli",
    version,
    about = "Linli (邻里): run a neighbourhood community — grids, matters, council, points and partners.",
    long_about = "Linli (邻里): run a neighbourhood community the way acquaintance communities do.\n\n\
        Settings come from flags, then LINLI_* environment variables, then the TOML file given\n\
        with --config, then defaults. With nothing set, data goes to ./linli.db (SQLite).\n\n\
        First start: `linli serve --demo` creates a demo community and prints its logins.\n\
        Production: `linli community add …`, then `linli user add …`, then `linli serve`."
)]
struct Cli {
    /// TOML file with settings (database, listen, data_key_file, public_url, trust_proxy, log_format).
    #[arg(long, env = "LINLI_CONFIG", global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Database: sqlite://path/to/linli.db (default sqlite://linli.db) or postgres://user@host/db.
    #[arg(long, env = "LINLI_DATABASE_URL", global = true, value_name = "URL")]
    database: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web application and API (applies pending database migrations first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create (or refresh) the demo community and print its logins; writes demo-logins.txt.
    Demo(DemoArgs),
    /// Verify the database: the engine's integrity checks (SQLite: `quick_check`; `--thorough` for `integrity_check`), every audit-log hash chain and the points ledger. Exits 1 on any problem.
    Check(CheckArgs),
    /// Manage sign-in accounts. Passwords are read from standard input, never from arguments.
    #[command(subcommand)]
    User(UserCommand),
    /// Set up communities (with their subdistrict and district).
    #[command(subcommand)]
    Community(CommunityCommand),
}

#[derive(Args)]
struct CheckArgs {
    /// Verify only the hash chains and the points ledger, not the engine's page-by-page
    /// integrity (which reads the whole database file).
    #[arg(long, conflicts_with = "thorough")]
    chains_only: bool,
    /// On SQLite, run the full `integrity_check` (every index against its table, UNIQUE
    /// constraints) instead of `quick_check`: about four times as long on a large file.
    #[arg(long)]
    thorough: bool,
}

impl CheckArgs {
    fn engine_checks(&self) -> check::EngineChecks {
        match (self.chains_only, self.thorough) {
            (true, _) => check::EngineChecks::Skip,
            (false, true) => check::EngineChecks::Thorough,
            (false, false) => check::EngineChecks::Quick,
        }
    }
}

#[derive(Args)]
struct DemoArgs {
    /// File holding the data key (as for `serve`): the demo's personal data is sealed with it.
    #[arg(long, env = "LINLI_DATA_KEY_FILE", value_name = "PATH")]
    data_key_file: Option<PathBuf>,
    /// Generate a district of this many Xinhe-size communities (for load tests).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=200))]
    communities: u32,
}

#[derive(Args)]
struct ServeArgs {
    /// Address and port to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "LINLI_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// File holding the 32-byte data key (64 hex characters) that encrypts personal data.
    /// Default: ~/.local/share/linli/data.key, created on first start. Keep it apart from the database and back it up.
    #[arg(long, env = "LINLI_DATA_KEY_FILE", value_name = "PATH")]
    data_key_file: Option<PathBuf>,
    /// The address users reach Linli at; an https:// URL marks cookies Secure.
    #[arg(long, env = "LINLI_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Take client addresses from X-Forwarded-For (only behind your own reverse proxy).
    #[arg(long, env = "LINLI_TRUST_PROXY")]
    trust_proxy: bool,
    /// Create (or refresh) the demo community before serving, and print its logins.
    #[arg(long)]
    demo: bool,
    /// With --demo: generate this many Xinhe-size communities (for load tests).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=200))]
    communities: u32,
    /// How long (milliseconds) a looked-up session is reused before it is read again.
    /// Revocations made by this process apply at once; those made by another server or by
    /// the command line apply within this time. 0 reads the session on every request.
    #[arg(long, env = "LINLI_SESSION_CACHE_MS", value_name = "MS")]
    session_cache_ms: Option<u64>,
    /// Log format: text (default) or json.
    #[arg(long, env = "LINLI_LOG_FORMAT", value_name = "FORMAT")]
    log_format: Option<String>,
    /// Folder for uploaded files (matter photos). Default: `linli-objects` beside the
    /// SQLite database, or in the working directory with PostgreSQL. Servers sharing one
    /// database must share this folder too (or use an S3-compatible store).
    #[arg(long, env = "LINLI_OBJECT_DIR", value_name = "DIR")]
    object_dir: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account with one role. Reads the password from standard input.
    ///
    /// Example: echo 'a long passphrase' | linli user add lin.hai --name 林海 --role community_admin --community xinhe
    Add {
        /// Sign-in name: 3–32 lowercase letters, digits, '.', '_' or '-'.
        username: String,
        /// Name shown in the interface, e.g. 林海.
        #[arg(long = "name", value_name = "NAME")]
        display_name: String,
        /// One of: resident, building_head, volunteer, party_member, grid_worker, community_staff,
        /// operation_officer, partner, community_admin, district_admin, auditor.
        #[arg(long)]
        role: String,
        /// Community code the role applies in (every role but district_admin).
        #[arg(long, value_name = "CODE")]
        community: Option<String>,
        /// Grid code, for grid_worker (repeat for several grids).
        #[arg(long = "grid", value_name = "CODE")]
        grids: Vec<String>,
        /// District code, for district_admin.
        #[arg(long, value_name = "CODE")]
        district: Option<String>,
    },
    /// Set a new password (read from standard input); ends every session of the account.
    Passwd { username: String },
    /// Disable an account; it can no longer sign in and every session ends.
    Disable { username: String },
    /// List every account.
    List,
}

#[derive(Subcommand)]
enum CommunityCommand {
    /// Create a community, its subdistrict and district if new, and its grids.
    ///
    /// Example: linli community add --district 440310 坪山区 --subdistrict 440310001 坪山街道 --code xinhe --name 新和社区 --grid XH-01=新和第一网格
    Add {
        /// District code and name.
        #[arg(long, num_args = 2, required = true, value_names = ["CODE", "NAME"])]
        district: Vec<String>,
        /// Subdistrict code and name.
        #[arg(long, num_args = 2, required = true, value_names = ["CODE", "NAME"])]
        subdistrict: Vec<String>,
        /// Community code (short, unique), e.g. xinhe.
        #[arg(long)]
        code: String,
        /// Community name, e.g. 新和社区.
        #[arg(long)]
        name: String,
        /// A grid as CODE=NAME (repeat for each grid).
        #[arg(long = "grid", value_name = "CODE=NAME")]
        grids: Vec<String>,
    },
    /// Make a second factor (TOTP) mandatory for the community's staff, or optional again.
    RequireTotp {
        /// Community code.
        code: String,
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        setting: String,
    },
    /// List communities.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("linli: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("linli: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let file = FileConfig::load(cli.config.as_deref())?;
    let url = config::database_url(cli.database, &file);
    match cli.command {
        Command::Serve(args) => serve(args, &file, &url).await,
        Command::Migrate => {
            let db = open(&url).await?;
            println!("migrations applied to {}", config::redacted(&url));
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            let key_path = config::data_key_path(args.data_key_file, &file)?;
            let data_key = DataKey::load_or_create(&key_path)?;
            let db = open(&url).await?;
            run_demo(&db, &url, &data_key, args.communities).await?;
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => run_check(&url, &args).await,
        Command::User(cmd) => {
            let db = open(&url).await?;
            let result = run_user(&db, cmd).await;
            db.close().await;
            result.map(|()| ExitCode::SUCCESS)
        }
        Command::Community(cmd) => {
            let db = open(&url).await?;
            let result = run_community(&db, cmd).await;
            db.close().await;
            result.map(|()| ExitCode::SUCCESS)
        }
    }
}

/// Connects and brings the schema up to date.
async fn open(url: &str) -> anyhow::Result<Db> {
    let db = Db::connect(url)
        .await
        .with_context(|| format!("cannot open the database {}", config::redacted(url)))?;
    db.migrate()
        .await
        .context("cannot apply database migrations")?;
    Ok(db)
}

/// Logs go to standard output through a writer thread, so a request never waits on the
/// terminal or log file. The returned guard flushes what is queued when dropped at exit.
fn init_logging(format: &str) -> anyhow::Result<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("LINLI_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let ansi = std::io::stdout().is_terminal();
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        // Never drop log lines: when the queue is full, the request waits instead.
        .lossy(false)
        .finish(std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        "json" => builder.json().flatten_event(true).init(),
        "text" => builder.init(),
        other => bail!("log format {other:?} is not text or json"),
    }
    Ok(guard)
}

async fn serve(args: ServeArgs, file: &FileConfig, url: &str) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let _log_guard = init_logging(
        args.log_format
            .as_deref()
            .or(file.log_format.as_deref())
            .unwrap_or("text"),
    )?;
    let listen = config::listen_addr(args.listen, file)?;
    let key_path = config::data_key_path(args.data_key_file, file)?;
    let data_key = DataKey::load_or_create(&key_path)?;
    let db = open(url).await?;
    println!(
        "Linli {} · database {} ({:?})",
        env!("CARGO_PKG_VERSION"),
        config::redacted(url),
        db.engine()
    );
    if db.engine() == Engine::Sqlite {
        let pragmas = db.sqlite_pragmas().await?;
        let shown: Vec<String> = pragmas.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("SQLite: {}", shown.join(", "));
    }
    println!("Data key: {}", key_path.display());
    if args.demo {
        run_demo(&db, url, &data_key, args.communities).await?;
    }
    let public_url = args.public_url.or_else(|| file.public_url.clone());
    let settings = Settings {
        secure_cookies: public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://")),
        trust_proxy: args.trust_proxy || file.trust_proxy.unwrap_or(false),
        session_cache: args
            .session_cache_ms
            .or(file.session_cache_ms)
            .map(std::time::Duration::from_millis)
            .unwrap_or(Settings::default().session_cache),
        object_dir: args
            .object_dir
            .clone()
            .or_else(|| file.object_dir.clone())
            .unwrap_or_else(|| config::database_dir(url).join("linli-objects")),
        ..Settings::default()
    };
    std::fs::create_dir_all(&settings.object_dir).with_context(|| {
        format!(
            "cannot create the object folder {}",
            settings.object_dir.display()
        )
    })?;
    println!("Objects: {}", settings.object_dir.display());
    let state = AppState::new(db.clone(), data_key, settings.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let shutdown = shutdown_signal();
    let shown = public_url.unwrap_or_else(|| format!("http://{bound}"));
    println!(
        "Listening on {shown} (ready in {} ms)",
        started.elapsed().as_millis()
    );
    // The background worker (supervision sweep, deliveries) stops with the server.
    let (stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(linli_web::jobs::run(
        state.clone(),
        std::time::Duration::from_secs(1),
        worker_stopped,
    ));
    linli_web::server::serve(listener, linli_web::app(state), &settings, shutdown).await?;
    let _ = stop_worker.send(true);
    let _ = worker.await;
    db.close().await;
    println!("Stopped cleanly.");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM (service managers) or Ctrl-C. The handlers are installed when this
/// is called, not when the future is first polled: the server's accept loop may answer
/// requests before it polls the future, and a SIGTERM arriving then would otherwise meet
/// the default action and kill the process without draining (seen once in CI).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let [mut terminate, mut interrupt] = {
        use tokio::signal::unix::{SignalKind, signal};
        [SignalKind::terminate(), SignalKind::interrupt()].map(|kind| signal(kind).ok())
    };
    async move {
        #[cfg(unix)]
        {
            async fn received(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = received(&mut terminate) => {},
                () = received(&mut interrupt) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown requested");
    }
}

async fn run_demo(db: &Db, url: &str, key: &DataKey, communities: u32) -> anyhow::Result<()> {
    let logins = demo::generate(db, key, communities).await?;
    release_freed_memory();
    let path = demo::write_logins(&config::database_dir(url), &logins)?;
    demo::print_logins(&logins, &path);
    Ok(())
}

/// Hands freed heap back to the operating system. The demo hashes a dozen passwords with
/// argon2id (19 MiB each); glibc keeps such blocks after the first few, which would
/// otherwise stay in the idle server's resident memory.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it touches no live
    // allocation and is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

async fn run_check(url: &str, args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let db = Db::connect(url)
        .await
        .with_context(|| format!("cannot open the database {}", config::redacted(url)))?;
    let report = check::run_with(&db, args.engine_checks()).await?;
    db.close().await;
    for problem in &report.database_problems {
        println!("database: {problem}");
    }
    for b in &report.audit_breaks {
        println!("audit chain {}: entry {}: {}", b.chain, b.seq, b.problem);
    }
    for p in &report.ledger.problems {
        match p.seq {
            Some(seq) => println!(
                "points ledger {}: transfer {seq}: {}",
                p.community, p.problem
            ),
            None => println!("points ledger {}: {}", p.community, p.problem),
        }
    }
    let timings: Vec<String> = report
        .timings
        .iter()
        .map(|(part, took)| format!("{part} {:.2} s", took.as_secs_f64()))
        .collect();
    println!("took: {}", timings.join(", "));
    println!(
        "checked {} audit entries, {} points transfers, {} entries and {} accounts: {}",
        report.audit_entries_checked,
        report.ledger.transfers_checked,
        report.ledger.entries_checked,
        report.ledger.accounts_checked,
        if report.is_ok() {
            "ok"
        } else {
            "PROBLEMS FOUND"
        }
    );
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Reads one line from standard input, without echo when it is a terminal.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if interactive {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    read.context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input (pipe it in, e.g. `echo '…' | linli user add …`)");
    }
    Ok(password)
}

async fn run_user(db: &Db, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            username,
            display_name,
            role,
            community,
            grids,
            district,
        } => {
            let username = Username::parse(&username)?;
            let role = Role::parse(&role)?;
            let scope = match (community, district) {
                (Some(code), None) => RoleScope::Community { code, grids },
                (None, Some(code)) => RoleScope::District { code },
                _ => bail!(
                    "give exactly one of --community (most roles) or --district (district_admin)"
                ),
            };
            let password = NewPassword::parse(&read_password("Password: ")?, &username)?;
            let id = admin::add_user(db, &username, &display_name, &password, role, &scope).await?;
            println!("created {username} ({role}) id {id}");
        }
        UserCommand::Passwd { username } => {
            let username = Username::parse(&username)?;
            let password = NewPassword::parse(&read_password("New password: ")?, &username)?;
            let revoked = admin::set_password(db, &username, &password).await?;
            println!("password changed for {username}; {revoked} session(s) ended");
        }
        UserCommand::Disable { username } => {
            let username = Username::parse(&username)?;
            let revoked = admin::disable_user(db, &username).await?;
            println!("disabled {username}; {revoked} session(s) ended");
        }
        UserCommand::List => {
            let mut conn = db.acquire().await?;
            let rows = linli_store::auth::list_accounts(&mut conn.exec()).await?;
            println!(
                "{:<24} {:<16} {:<9} second factor",
                "username", "name", "status"
            );
            for a in rows {
                println!(
                    "{:<24} {:<16} {:<9} {}",
                    a.username,
                    a.display_name,
                    if a.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "active"
                    },
                    if a.totp_enabled { "on" } else { "off" }
                );
            }
        }
    }
    Ok(())
}

async fn run_community(db: &Db, cmd: CommunityCommand) -> anyhow::Result<()> {
    match cmd {
        CommunityCommand::Add {
            district,
            subdistrict,
            code,
            name,
            grids,
        } => {
            let grids = grids
                .iter()
                .map(|g| match g.split_once('=') {
                    Some((c, n)) if !c.trim().is_empty() && !n.trim().is_empty() => {
                        Ok((c.trim().to_owned(), n.trim().to_owned()))
                    }
                    _ => bail!("grid {g:?} is not CODE=NAME"),
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let spec = CommunitySpec {
                district: (&district[0], &district[1]),
                subdistrict: (&subdistrict[0], &subdistrict[1]),
                community: (&code, &name),
                grids,
            };
            let id = admin::ensure_community(db, &spec).await?;
            println!("community {code} ({name}) id {id}");
        }
        CommunityCommand::RequireTotp { code, setting } => {
            admin::set_totp_required(db, &code, setting == "on").await?;
            println!(
                "second factor for staff of {code}: {}",
                if setting == "on" {
                    "required"
                } else {
                    "optional"
                }
            );
        }
        CommunityCommand::List => {
            let mut conn = db.acquire().await?;
            for c in tenancy::list_communities(&mut conn.exec()).await? {
                println!(
                    "{:<12} {} · {} · {}",
                    c.community_code, c.district_name, c.subdistrict_name, c.community_name
                );
            }
        }
    }
    Ok(())
}
