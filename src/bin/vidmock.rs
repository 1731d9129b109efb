//! The `vidmock` command: the library's server on a fixed address, for frontend developers and
//! for test suites written in other languages (driven through `/__vidmock`).
//!
//! It stays a thin shell: everything it serves is `vidmock::MockServer`.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;

/// Mock api.video and Kaltura upload-token APIs on localhost.
#[derive(Debug, Parser)]
#[command(name = "vidmock", version, about)]
struct Args {
    /// Address to listen on (loopback unless you say otherwise).
    #[arg(long, env = "VIDMOCK_HOST", default_value = "127.0.0.1")]
    host: IpAddr,

    /// Port to listen on; 0 picks any free port.
    #[arg(long, env = "VIDMOCK_PORT", default_value_t = 8484)]
    port: u16,

    /// An api.video project API key (repeatable; the first is the default project).
    #[arg(
        long = "apivideo-key",
        env = "VIDMOCK_APIVIDEO_KEY",
        value_delimiter = ','
    )]
    apivideo_keys: Vec<String>,

    /// A Kaltura partner as ID:ADMIN_SECRET[:USER_SECRET] (repeatable).
    #[arg(
        long = "kaltura-partner",
        env = "VIDMOCK_KALTURA_PARTNER",
        value_delimiter = ','
    )]
    kaltura_partners: Vec<String>,

    /// JSON file of tenants, tokens, videos, partners and entries to load at start.
    #[arg(long, env = "VIDMOCK_SEED_FILE")]
    seed_file: Option<std::path::PathBuf>,

    /// File the state is saved to after changes and restored from at start.
    #[arg(long, env = "VIDMOCK_STATE_FILE")]
    state_file: Option<std::path::PathBuf>,

    /// Serve HTTPS with a self-signed certificate.
    #[arg(long, env = "VIDMOCK_TLS")]
    tls: bool,

    /// Keep every uploaded byte in memory instead of only sizes and sha256 digests.
    #[arg(long, env = "VIDMOCK_KEEP_UPLOADS")]
    keep_uploads: bool,

    /// Send no CORS headers.
    #[arg(long, env = "VIDMOCK_NO_CORS")]
    no_cors: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIDMOCK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let unsupported = [
        (!args.kaltura_partners.is_empty(), "--kaltura-partner"),
        (args.seed_file.is_some(), "--seed-file"),
        (args.state_file.is_some(), "--state-file"),
        (args.tls, "--tls"),
    ];
    if let Some((_, flag)) = unsupported.iter().find(|(given, _)| *given) {
        eprintln!("vidmock: {flag} is not supported by this version yet");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("vidmock: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    // A long-running binary sees large files: keep digests only unless asked otherwise.
    let retention = if args.keep_uploads {
        vidmock::Retention::Memory
    } else {
        vidmock::Retention::DigestOnly
    };
    let mut builder = vidmock::MockServer::builder()
        .bind(SocketAddr::new(args.host, args.port))
        .retention(retention);
    for key in &args.apivideo_keys {
        builder = builder.apivideo_key(key.clone());
    }
    let server = match builder.try_start().await {
        Ok(server) => server,
        Err(error) => {
            eprintln!(
                "vidmock: cannot listen on {}: {error}",
                SocketAddr::new(args.host, args.port)
            );
            return ExitCode::FAILURE;
        }
    };
    println!("vidmock listening on {}", server.uri());
    for key in server.apivideo().api_keys() {
        println!("apivideo api key: {key}");
    }
    shutdown_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
