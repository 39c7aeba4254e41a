//! `stpt serve`: run the server on the embedded SQLite database or on PostgreSQL.

use std::net::IpAddr;

use anyhow::Context;
use clap::Args;
use rocket::fairing::AdHoc;
use stpt_server::Config;
use stpt_server::db::{DatabaseUrl, PoolOptions};

/// Serve the REST API, the pages and the WebSockets.
///
/// Example: `stpt serve --port 8000 --database-url postgres://stpt@127.0.0.1/stpt`
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
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
    /// Most database connections open at once.
    #[arg(long, env = "STPT_DB_POOL_SIZE", default_value_t = 8)]
    pool_size: u32,
}

/// Builds the configuration and runs the server until Ctrl-C.
pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let database_url: DatabaseUrl = args
        .database_url
        .parse()
        .with_context(|| format!("invalid --database-url {:?}", args.database_url))?;
    let config = Config {
        database_url: database_url.clone(),
        address: args.address,
        port: args.port,
        body_limit: args.body_limit,
        pool: PoolOptions {
            max_size: args.pool_size.max(1),
            ..PoolOptions::default()
        },
        log: false,
    };
    rocket::execute(async move {
        let app = stpt_server::build(&config)
            .with_context(|| format!("cannot open the database ({database_url})"))?
            .attach(AdHoc::on_liftoff("announce", move |rocket| {
                Box::pin(async move {
                    let config = rocket.config();
                    println!(
                        "stpt listening on http://{}:{} (database: {database_url})",
                        config.address, config.port
                    );
                })
            }));
        app.launch()
            .await
            .context("the server stopped with an error")?;
        Ok(())
    })
}
