//! `stpt serve`: run the server on the embedded SQLite database or on PostgreSQL.
//!
//! Every option is a flag, an `STPT_*` variable and a key of the config file
//! (`config_file`); the log is set up by `logging` before Rocket starts.

mod config_file;
mod logging;

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use stpt_server::config::{IngestAuth, ReadAccess, SmtpConfig};
use stpt_server::db::{DatabaseUrl, PoolOptions};
use stpt_server::guard::{self, Limits};
use stpt_server::{Config, Launch, LaunchError};

/// Shortest `STPT_SECRET_KEY` accepted.
const MIN_SECRET_KEY_LEN: usize = 32;

/// Serve the REST API, the pages and the WebSockets.
///
/// Example: `stpt serve --port 8000 --database-url postgres://stpt@127.0.0.1/stpt`
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// A TOML file of settings: any option below, named with _ for - (`database_url`,
    /// `allowed_hosts = ["stpt.lab"]`). The environment and flags override it.
    #[arg(long, env = "STPT_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Print the settings in force (from defaults, the config file, the environment and
    /// flags) as TOML, secrets hidden, and exit.
    #[arg(long)]
    print_config: bool,
    /// How much to log on standard error: error, warn, info (one line per request) or debug.
    #[arg(long, env = "STPT_LOG", value_enum, default_value = "info")]
    log_level: logging::LogLevel,
    /// How log lines are written: text, or json (one object per line) for log shippers.
    #[arg(long, env = "STPT_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: logging::LogFormat,
    /// Where runs are stored: an SQLite file path (`sqlite://PATH` also works) or a
    /// `postgres://` URL. The file is created if missing.
    #[arg(long, env = "STPT_DATABASE_URL", default_value = "stpt.db")]
    database_url: String,
    /// Address to listen on.
    #[arg(long, env = "STPT_ADDRESS", default_value = "127.0.0.1")]
    address: IpAddr,
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, env = "STPT_PORT", default_value_t = 8000)]
    port: u16,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "STPT_BODY_LIMIT", default_value_t = stpt_server::config::DEFAULT_BODY_LIMIT)]
    body_limit: u64,
    /// Most events one batch (`POST /api/v1/events`) may hold; a larger batch is refused
    /// whole (413), within the body limit in any case.
    #[arg(long, env = "STPT_BATCH_MAX_EVENTS", default_value_t = stpt_core::wire::DEFAULT_MAX_BATCH_EVENTS)]
    batch_max_events: usize,
    /// Most bytes of each test's output kept (at least 1024): beyond it the first half and
    /// the newest lines are kept, and what was dropped is counted.
    #[arg(long, env = "STPT_OUTPUT_LIMIT", default_value_t = 1 << 20)]
    output_limit: u64,
    /// Most database connections open at once.
    #[arg(long, env = "STPT_DB_POOL_SIZE", default_value_t = 8)]
    pool_size: u32,
    /// Who may read the pages, the read API and the WebSockets: `public` (anyone who can
    /// reach the server) or `login` (a user session, or a machine token for the API).
    #[arg(long, env = "STPT_READ_ACCESS", default_value = "public", value_parser = parse_read_access)]
    read_access: ReadAccess,
    /// Whether ingest needs a machine token: `open` or `token`. Default: `open` when
    /// listening on a loopback address only, `token` otherwise.
    #[arg(long, env = "STPT_INGEST_AUTH", value_parser = parse_ingest_auth)]
    ingest_auth: Option<IngestAuth>,
    /// Key material for session cookies, at least 32 characters (default: a key generated
    /// once and kept in the database).
    #[arg(long, env = "STPT_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// The server's public base URL (e.g. `https://stpt.example.com`), used in mailed
    /// password-reset links.
    #[arg(long, env = "STPT_PUBLIC_URL")]
    public_url: Option<String>,
    /// Serve everything (pages, assets, API, WebSockets, `/docs`) under this path prefix,
    /// for a reverse proxy that forwards a sub-path as is (`/stpt`: the pages are at
    /// `/stpt/`, the seed API at `/stpt/tm_api/…`; anything else answers 404). With
    /// --public-url, give the full URL, prefix included.
    #[arg(long, env = "STPT_BASE_PATH", value_parser = parse_base_path)]
    base_path: Option<String>,
    /// A host name the server answers for besides its addresses, `localhost` and the public
    /// URL's host (repeat it, or comma-separate STPT_ALLOWED_HOSTS; `*.lab.example.com`
    /// allows every subdomain). Requests for other hosts are refused (421).
    #[arg(
        long = "allowed-host",
        env = "STPT_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// A reverse proxy (address or CIDR range) whose X-Forwarded-For / X-Real-IP name the
    /// client, for the login limits (repeat it, or comma-separate STPT_TRUSTED_PROXIES);
    /// nobody else's forwarding headers are believed.
    #[arg(
        long = "trusted-proxy",
        env = "STPT_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<stpt_server::access::client_addr::ProxyRange>,
    /// SMTP relay for password-reset mail (STARTTLS); without it links are only printed by
    /// `stpt user reset-link`.
    #[arg(long, env = "STPT_SMTP_HOST")]
    smtp_host: Option<String>,
    /// SMTP relay port.
    #[arg(long, env = "STPT_SMTP_PORT", default_value_t = 587)]
    smtp_port: u16,
    /// SMTP login name.
    #[arg(long, env = "STPT_SMTP_USERNAME")]
    smtp_username: Option<String>,
    /// SMTP password: give it in STPT_SMTP_PASSWORD or the config file, so it is not
    /// visible in `ps` (hence no flag in the help).
    #[arg(long, env = "STPT_SMTP_PASSWORD", hide = true)]
    smtp_password: Option<String>,
    /// The From address of reset mail.
    #[arg(long, env = "STPT_SMTP_FROM", default_value = "stpt@localhost")]
    smtp_from: String,
    /// Talk to the relay without TLS (only for a relay on this host).
    #[arg(long, env = "STPT_SMTP_INSECURE")]
    smtp_insecure: bool,
    /// How long a run may go without an event before it is shown as stale and closed (its
    /// running and waiting tests become unknown): 90m, 2h, 1d.
    #[arg(long, env = "STPT_STALE_AFTER", default_value = "2h", value_parser = super::prune::parse_duration)]
    stale_after: std::time::Duration,
    /// Client connections open at once (WebSockets included). At the limit, the connection
    /// that has waited longest on its client is closed for a newcomer; when every one is busy,
    /// newcomers get 503.
    #[arg(long, env = "STPT_MAX_CONNECTIONS", default_value_t = guard::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Time for a request head to arrive (408 after it): 10s, 1m.
    #[arg(long, env = "STPT_HEADER_TIMEOUT", default_value = "10s", value_parser = super::prune::parse_duration)]
    header_timeout: std::time::Duration,
    /// Largest request head (request line and header fields), in bytes (431 beyond it).
    #[arg(long, env = "STPT_MAX_HEADER_SIZE", default_value_t = guard::DEFAULT_MAX_HEADER_BYTES)]
    max_header_size: usize,
    /// Time a keep-alive connection may wait for its next request before it is closed.
    #[arg(long, env = "STPT_IDLE_TIMEOUT", default_value = "60s", value_parser = super::prune::parse_duration)]
    idle_timeout: std::time::Duration,
    /// Time a request body may take, plus one second per --body-min-rate bytes received (408
    /// after it).
    #[arg(long, env = "STPT_BODY_TIMEOUT", default_value = "10s", value_parser = super::prune::parse_duration)]
    body_timeout: std::time::Duration,
    /// Least average rate of a request body, in bytes per second.
    #[arg(long, env = "STPT_BODY_MIN_RATE", default_value_t = guard::DEFAULT_BODY_MIN_RATE, value_parser = clap::value_parser!(u64).range(1..))]
    body_min_rate: u64,
    /// Bytes of request bodies on their way to the app at once, across all connections; a
    /// body waits for room and gets 503 if none comes in time.
    #[arg(long, env = "STPT_BODY_BUDGET", default_value_t = guard::DEFAULT_BODY_BUDGET, value_parser = clap::value_parser!(u64).range(1..))]
    body_budget: u64,
    /// Time a client may take to accept a piece of a response before it is dropped.
    #[arg(long, env = "STPT_SEND_TIMEOUT", default_value = "30s", value_parser = super::prune::parse_duration)]
    send_timeout: std::time::Duration,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first); needs
    /// --tls-key. The TLS handshake must finish within --header-timeout.
    #[arg(long, env = "STPT_TLS_CERT", value_name = "PATH")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "STPT_TLS_KEY", value_name = "PATH")]
    tls_key: Option<PathBuf>,
    /// A PEM bundle of CA certificates that webhook deliveries and the SMTP relay may be
    /// signed by, besides the system's.
    #[arg(long, env = "STPT_CA_CERT", value_name = "PATH")]
    ca_cert: Option<PathBuf>,
}

fn parse_read_access(s: &str) -> Result<ReadAccess, String> {
    s.parse()
}

/// A base path in its one spelling (`stpt/` → `/stpt`, `/` → none), or why it cannot be one.
fn parse_base_path(s: &str) -> Result<String, String> {
    stpt_server::base_path::normalise(s).map_err(|e| e.to_string())
}

fn parse_ingest_auth(s: &str) -> Result<IngestAuth, String> {
    s.parse()
}

/// The startup line naming the ingest rule in force.
fn ingest_line(config: &Config) -> String {
    match (config.effective_ingest_auth(), config.ingest_auth.is_some()) {
        (IngestAuth::Open, true) => "ingest: open (--ingest-auth open)".to_owned(),
        (IngestAuth::Open, false) => {
            "ingest: open (listening on loopback only; --ingest-auth token to require tokens)"
                .to_owned()
        }
        (IngestAuth::Token, true) => "ingest: machine token required (--ingest-auth token)".into(),
        (IngestAuth::Token, false) => {
            "ingest: machine token required (listening beyond loopback; create one with \
             `stpt token create --machine NAME`)"
                .to_owned()
        }
    }
}

/// Merges the config file in, then prints the settings or runs the server until Ctrl-C.
pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    use clap::FromArgMatches;
    let cli = crate::command();
    let serve = cli
        .find_subcommand("serve")
        .context("the serve command is missing")?;
    // The command line from `serve` on, parsed again with the file's settings merged in.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let effective = config_file::effective(serve, &argv, args.config.as_deref())?;
    if args.print_config {
        print!("{}", config_file::render(serve, &effective));
        return Ok(());
    }
    let args = ServeArgs::from_arg_matches(&effective.matches)?;
    logging::install(args.log_level, args.log_format)?;
    serve_with(args)
}

/// Builds the configuration and runs the server until Ctrl-C.
fn serve_with(args: ServeArgs) -> anyhow::Result<()> {
    // Every live subscriber holds a socket: allow as many open files as the system lets us.
    // Failing to raise the limit only leaves the default in force.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let database_url: DatabaseUrl = args
        .database_url
        .parse()
        .with_context(|| format!("invalid --database-url {:?}", args.database_url))?;
    let config = server_config(args, database_url.clone())?;
    if let Some(key) = &config.secret_key
        && key.chars().count() < MIN_SECRET_KEY_LEN
    {
        anyhow::bail!("STPT_SECRET_KEY is too short: use at least {MIN_SECRET_KEY_LEN} characters");
    }
    let access_line = format!(
        "{}; read access: {}",
        ingest_line(&config),
        match config.read_access {
            ReadAccess::Public => "public",
            ReadAccess::Login => "login required",
        }
    );
    let (address, port) = (config.address, config.port);
    let scheme = if config.serves_tls() { "https" } else { "http" };
    let base_path = config.base_path.clone();
    rocket::execute(async move {
        // Every failure to open the database names it already.
        let app = stpt_server::build(&config)?;
        let launch = Launch::bind(app, &config)
            .await
            .map_err(|error| launch_error(error, address, port))?;
        println!(
            "stpt listening on {scheme}://{}{base_path} (database: {database_url})",
            launch.local_addr()
        );
        println!("{access_line}");
        launch
            .run()
            .await
            .context("the server stopped with an error")?;
        Ok(())
    })
}

/// The server's configuration from the command line (and its environment and file).
fn server_config(args: ServeArgs, database_url: DatabaseUrl) -> anyhow::Result<Config> {
    Ok(Config {
        database_url,
        address: args.address,
        port: args.port,
        body_limit: args.body_limit,
        batch_max_events: args.batch_max_events,
        output_limit: stpt_core::OutputLimit::new(args.output_limit).with_context(|| {
            format!(
                "--output-limit {} is too small: at least {} bytes",
                args.output_limit,
                stpt_core::OutputLimit::MIN_BYTES
            )
        })?,
        pool: PoolOptions {
            max_size: args.pool_size.max(1),
            ..PoolOptions::default()
        },
        // Rocket's messages go through the log installed above.
        log: true,
        read_access: args.read_access,
        ingest_auth: args.ingest_auth,
        secret_key: args.secret_key,
        smtp: args.smtp_host.map(|host| SmtpConfig {
            host,
            port: args.smtp_port,
            username: args.smtp_username,
            password: args.smtp_password,
            from: args.smtp_from,
            insecure: args.smtp_insecure,
        }),
        public_url: args.public_url,
        base_path: args.base_path.unwrap_or_default(),
        allowed_hosts: args.allowed_hosts,
        trusted_proxies: args.trusted_proxies,
        stale_after: args.stale_after,
        guard: Limits {
            max_connections: args.max_connections,
            header_timeout: args.header_timeout,
            max_header_bytes: args.max_header_size,
            idle_timeout: args.idle_timeout,
            body_timeout: args.body_timeout,
            body_min_rate: args.body_min_rate,
            body_budget: args.body_budget,
            send_timeout: args.send_timeout,
        },
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        ca_cert: args.ca_cert,
        ..Config::default()
    })
}

/// A failed launch, saying which address and port could not be had and what to do.
fn launch_error(error: LaunchError, address: IpAddr, port: u16) -> anyhow::Error {
    use std::io::ErrorKind;
    if let LaunchError::Bind { source: io, .. } = &error {
        let why = match io.kind() {
            ErrorKind::AddrInUse => {
                "the port is in use (by another stpt serve, or another program); pick another \
                 with --port or STPT_PORT (0 picks a free one)"
                    .to_owned()
            }
            ErrorKind::AddrNotAvailable => {
                "this machine has no such address; use one of its own with --address".to_owned()
            }
            ErrorKind::PermissionDenied => {
                "not allowed (ports below 1024 need privileges); pick another with --port"
                    .to_owned()
            }
            _ => io.to_string(),
        };
        let at = std::net::SocketAddr::new(address, port);
        return anyhow::anyhow!("cannot listen on {at}: {why}");
    }
    anyhow::Error::new(error)
}
