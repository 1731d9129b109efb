//! The `vidmock` command: the library's server on a fixed address, for frontend developers and
//! for test suites written in other languages (driven through `/__vidmock`).
//!
//! It stays a thin shell: everything it serves is `vidmock::MockServer`.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

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
    #[cfg(feature = "apivideo")]
    #[arg(
        long = "apivideo-key",
        env = "VIDMOCK_APIVIDEO_KEY",
        value_delimiter = ','
    )]
    apivideo_keys: Vec<String>,

    /// Seconds from an api.video upload to its first encoded quality (playable), split evenly
    /// between waiting to ingest, ingesting and one quality; each further quality takes as
    /// long again. Measured on the server's clock (`/__vidmock/clock/advance` moves it).
    #[cfg(feature = "apivideo")]
    #[arg(
        long = "apivideo-encoding-delay",
        env = "VIDMOCK_APIVIDEO_ENCODING_DELAY",
        default_value = "3",
        value_parser = delay_seconds
    )]
    apivideo_encoding_delay: Duration,

    /// Make api.video fail to encode an upload that is not an MP4/MOV file, as the vendor does
    /// (by default it is encoded to one quality, so placeholder bytes play).
    #[cfg(feature = "apivideo")]
    #[arg(
        long = "apivideo-fail-non-media",
        env = "VIDMOCK_APIVIDEO_FAIL_NON_MEDIA"
    )]
    apivideo_fail_non_media: bool,

    /// A Kaltura partner as ID:ADMIN_SECRET[:USER_SECRET] (repeatable).
    #[cfg(feature = "kaltura")]
    #[arg(
        long = "kaltura-partner",
        env = "VIDMOCK_KALTURA_PARTNER",
        value_delimiter = ','
    )]
    kaltura_partners: Vec<String>,

    /// Seconds a Kaltura entry stays in IMPORT once its file has arrived (server clock).
    #[cfg(feature = "kaltura")]
    #[arg(long, env = "VIDMOCK_KALTURA_IMPORT_DELAY", default_value_t = 0.0, value_parser = delay)]
    kaltura_import_delay: f64,

    /// Seconds a Kaltura entry then stays in PRECONVERT before READY (server clock).
    #[cfg(feature = "kaltura")]
    #[arg(long, env = "VIDMOCK_KALTURA_CONVERT_DELAY", default_value_t = 0.0, value_parser = delay)]
    kaltura_convert_delay: f64,

    /// Host (and path) Kaltura's uploadToken answers as `uploadUrl`; the API answers under
    /// that path too.
    #[cfg(feature = "kaltura")]
    #[arg(long, env = "VIDMOCK_KALTURA_UPLOAD_URL")]
    kaltura_upload_url: Option<String>,

    /// JSON file of tenants, tokens, videos, partners and entries to load at start.
    #[arg(long, env = "VIDMOCK_SEED_FILE")]
    seed_file: Option<std::path::PathBuf>,

    /// File the state is saved to after changes and restored from at start.
    #[arg(long, env = "VIDMOCK_STATE_FILE")]
    state_file: Option<std::path::PathBuf>,

    /// Serve HTTPS with a certificate signed by a local certificate authority, made once and
    /// kept in the data directory: trust it once (the start-up lines say how).
    #[arg(long, env = "VIDMOCK_TLS")]
    tls: bool,

    /// Serve HTTPS with this certificate chain (PEM; e.g. made with mkcert) instead; needs
    /// --tls-key.
    #[arg(
        long,
        env = "VIDMOCK_TLS_CERT",
        requires = "tls_key",
        value_name = "FILE"
    )]
    tls_cert: Option<std::path::PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(
        long,
        env = "VIDMOCK_TLS_KEY",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    tls_key: Option<std::path::PathBuf>,

    /// Also trust this certificate authority (PEM; e.g. mkcert's rootCA.pem) when delivering
    /// webhooks and notifications to https:// URLs; the public authorities are always trusted
    /// (repeatable).
    #[arg(long = "delivery-ca", env = "VIDMOCK_DELIVERY_CA", value_name = "FILE")]
    delivery_cas: Vec<std::path::PathBuf>,

    /// Where the local certificate authority is kept (default: the user's data directory,
    /// e.g. ~/.local/share/vidmock, ~/Library/Application Support/vidmock,
    /// %LOCALAPPDATA%\vidmock\data).
    #[arg(long, env = "VIDMOCK_DATA_DIR", value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,

    /// Keep every uploaded byte in memory (saved with --state-file) instead of in temporary
    /// files that vanish with the process.
    #[arg(long, env = "VIDMOCK_KEEP_UPLOADS")]
    keep_uploads: bool,

    /// Print no line per request (warnings only); `VIDMOCK_LOG` overrides both.
    #[arg(long, env = "VIDMOCK_QUIET")]
    quiet: bool,

    /// Send no CORS headers.
    #[arg(long, env = "VIDMOCK_NO_CORS")]
    no_cors: bool,

    /// Require this token on the admin API (`Authorization: Bearer TOKEN`). When listening
    /// beyond loopback without one, a random token is made up and printed. Never empty.
    #[arg(long, env = "VIDMOCK_ADMIN_TOKEN")]
    admin_token: Option<String>,

    /// Also answer requests whose Host is this name (repeatable; `.example.test` for a domain
    /// and its subdomains, `*` for any). localhost and IP addresses are always answered.
    #[arg(
        long = "allowed-host",
        env = "VIDMOCK_ALLOWED_HOST",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,

    /// Seconds a client may take to send a request head once it has begun (0: no limit).
    #[arg(long, env = "VIDMOCK_HEADER_READ_TIMEOUT", default_value = "30", value_parser = seconds)]
    header_read_timeout: Limit,

    /// Seconds a connection may stay open with no request in progress (0: no limit).
    #[arg(long, env = "VIDMOCK_IDLE_TIMEOUT", default_value = "120", value_parser = seconds)]
    idle_timeout: Limit,

    /// Seconds a request body may stop arriving before the request is ended (0: no limit).
    #[arg(long, env = "VIDMOCK_BODY_STALL_TIMEOUT", default_value = "60", value_parser = seconds)]
    body_stall_timeout: Limit,
}

/// A delay in seconds (decimals allowed), at most a day.
#[cfg(feature = "apivideo")]
fn delay_seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(0.0..=86_400.0).contains(&value) {
        return Err(format!("{text} is not between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(value))
}

/// A time limit given in seconds; `None` for no limit.
#[derive(Clone, Copy, Debug)]
struct Limit(Option<Duration>);

/// A number of seconds (decimals allowed); 0 means no limit.
fn seconds(text: &str) -> Result<Limit, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    let limit = Duration::try_from_secs_f64(value)
        .map_err(|_| format!("{text:?} is not a number of seconds >= 0"))?;
    Ok(Limit((!limit.is_zero()).then_some(limit)))
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIDMOCK_LOG").unwrap_or_else(|_| {
                // One line per request, as a dev server prints them, unless asked for quiet.
                let default = if args.quiet {
                    "warn"
                } else {
                    "warn,vidmock::request=info"
                };
                tracing_subscriber::EnvFilter::new(default)
            }),
        )
        .init();
    #[cfg_attr(not(feature = "kaltura"), allow(unused_mut))]
    let mut partners = Vec::new();
    #[cfg(feature = "kaltura")]
    for spec in &args.kaltura_partners {
        match parse_partner(spec) {
            Ok(partner) => partners.push(partner),
            Err(message) => {
                eprintln!("vidmock: --kaltura-partner {spec:?}: {message}");
                return ExitCode::from(2);
            }
        }
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
    runtime.block_on(run(args, partners))
}

/// A delay in seconds, finite and not negative.
#[cfg(feature = "kaltura")]
fn delay(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && (0.0..=1e9).contains(&value) => Ok(value),
        _ => Err(format!(
            "{text:?} is not a number of seconds between 0 and 1e9"
        )),
    }
}

/// `ID:ADMIN_SECRET[:USER_SECRET]` → (id, admin secret, user secret; empty when not given).
#[cfg(feature = "kaltura")]
fn parse_partner(spec: &str) -> Result<(i64, String, String), &'static str> {
    let mut fields = spec.splitn(3, ':');
    let id = fields
        .next()
        .and_then(|id| id.trim().parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or("expected ID:ADMIN_SECRET[:USER_SECRET] with a positive integer ID")?;
    let admin = fields
        .next()
        .filter(|secret| !secret.is_empty())
        .ok_or("the admin secret is missing")?;
    let user = fields.next().unwrap_or("");
    Ok((id, admin.to_owned(), user.to_owned()))
}

async fn run(args: Args, partners: Vec<(i64, String, String)>) -> ExitCode {
    // A long-running binary sees large files: keep them on disk, out of memory, unless asked
    // otherwise.
    let retention = if args.keep_uploads {
        vidmock::Retention::Memory
    } else {
        vidmock::Retention::Spill
    };
    let mut builder = vidmock::MockServer::builder()
        .bind(SocketAddr::new(args.host, args.port))
        .retention(retention)
        // Uploads are checked by their own sha256; a second pass over every body for the
        // journal would halve upload throughput.
        .journal_body_digests(false)
        .cors(!args.no_cors)
        .header_read_timeout(args.header_read_timeout.0)
        .idle_timeout(args.idle_timeout.0)
        .body_stall_timeout(args.body_stall_timeout.0);
    // An empty entry (an empty VIDMOCK_ALLOWED_HOST) allows nothing more.
    for host in args.allowed_hosts.iter().filter(|host| !host.is_empty()) {
        builder = builder.allowed_host(host.clone());
    }
    // Off loopback, anyone who can reach the port could drive the admin API: never without
    // a token there.
    let admin_token = match &args.admin_token {
        Some(token) => Some(token.clone()),
        None if args.host.is_loopback() => None,
        // The operating system's random source, through the TLS stack the binary has anyway.
        None => match random_token() {
            Some(token) => Some(token),
            None => {
                eprintln!("vidmock: no random source for an admin token; pass --admin-token");
                return ExitCode::FAILURE;
            }
        },
    };
    if let Some(token) = &admin_token {
        builder = builder.admin_token(token.clone());
    }
    for path in &args.delivery_cas {
        match std::fs::read_to_string(path) {
            Ok(pem) => builder = builder.trust_for_deliveries(pem),
            Err(error) => {
                eprintln!("vidmock: --delivery-ca {}: {error}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    // The certificate to trust, and whether it is a local authority made just now.
    let mut trust: Option<(std::path::PathBuf, Option<bool>)> = None;
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let read = |path: &std::path::Path, flag: &str| {
            std::fs::read_to_string(path).map_err(|error| {
                eprintln!("vidmock: {flag} {}: {error}", path.display());
                ExitCode::from(2)
            })
        };
        let (chain, private_key) = match (read(cert, "--tls-cert"), read(key, "--tls-key")) {
            (Ok(chain), Ok(private_key)) => (chain, private_key),
            (Err(code), _) | (_, Err(code)) => return code,
        };
        builder = builder.tls_pem(chain, private_key);
        trust = Some((cert.clone(), None));
    } else if args.tls {
        let Some(dir) = args.data_dir.clone().or_else(default_data_dir) else {
            eprintln!("vidmock: --tls: no data directory for the local certificate authority on this system; pass --data-dir DIR");
            return ExitCode::from(2);
        };
        let authority = match vidmock::LocalCa::load_or_create(&dir) {
            Ok(authority) => authority,
            Err(error) => {
                eprintln!("vidmock: --tls: the local certificate authority: {error}");
                return ExitCode::FAILURE;
            }
        };
        builder = builder.tls_signed_by(&authority);
        trust = Some((
            authority.certificate_path().to_path_buf(),
            Some(authority.created()),
        ));
    }
    // A seed or state file that cannot be used stops the start with exit code 2, as a bad flag.
    if let Some(path) = &args.seed_file {
        builder = match builder.seed_file(path) {
            Ok(builder) => builder,
            Err(error) => {
                eprintln!("vidmock: --seed-file: {error}");
                return ExitCode::from(2);
            }
        };
    }
    if let Some(path) = &args.state_file {
        builder = match builder.state_file(path) {
            Ok(builder) => builder,
            Err(error) => {
                eprintln!("vidmock: --state-file: {error}");
                return ExitCode::from(2);
            }
        };
    }
    #[cfg(feature = "apivideo")]
    {
        for key in &args.apivideo_keys {
            builder = builder.apivideo_key(key.clone());
        }
        builder = builder.apivideo_encoding_schedule(vidmock::apivideo::EncodingSchedule {
            not_media_fails: args.apivideo_fail_non_media,
            ..vidmock::apivideo::EncodingSchedule::spread(args.apivideo_encoding_delay)
        });
    }
    #[cfg(feature = "kaltura")]
    for (id, admin_secret, user_secret) in partners {
        builder = builder.kaltura_partner(id, admin_secret, user_secret);
    }
    #[cfg(feature = "kaltura")]
    {
        builder = builder.kaltura_conversion_delays(
            std::time::Duration::from_secs_f64(args.kaltura_import_delay),
            std::time::Duration::from_secs_f64(args.kaltura_convert_delay),
        );
        if let Some(url) = &args.kaltura_upload_url {
            builder = builder.kaltura_upload_url(url.clone());
        }
    }
    #[cfg(not(feature = "kaltura"))]
    let _: Vec<(i64, String, String)> = partners;
    // Signal handlers go in before the first line is printed: a caller that sends SIGTERM as
    // soon as it has read the address must get a clean shutdown, not the default action.
    let shutdown = shutdown_signal();
    let server = match builder.try_start().await {
        Ok(server) => server,
        // Settings that cannot be used end the start as a bad flag does.
        Err(error @ vidmock::Error::EmptyAdminToken) => {
            eprintln!("vidmock: --admin-token: {error}");
            return ExitCode::from(2);
        }
        Err(error @ vidmock::Error::AllowedHost { .. }) => {
            eprintln!("vidmock: --allowed-host: {error}");
            return ExitCode::from(2);
        }
        Err(error @ vidmock::Error::Tls { .. }) => {
            let flag = match &error {
                vidmock::Error::Tls { message } if message.contains("trust for deliveries") => {
                    "--delivery-ca"
                }
                _ => "--tls-cert/--tls-key",
            };
            eprintln!("vidmock: {flag}: {error}");
            return ExitCode::from(2);
        }
        Err(error) => {
            // The error names the address when binding it failed.
            eprintln!("vidmock: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    say(&format!("vidmock listening on {}", server.uri()));
    #[cfg(feature = "apivideo")]
    for key in server.apivideo().api_keys() {
        say(&format!("apivideo api key: {key}"));
    }
    #[cfg(feature = "kaltura")]
    for partner in server.kaltura().partners() {
        let mut line = format!(
            "kaltura partner: {} admin secret: {}",
            partner.id, partner.admin_secret
        );
        if !partner.user_secret.is_empty() {
            line.push_str(&format!(" user secret: {}", partner.user_secret));
        }
        say(&line);
    }
    if let Some(token) = &admin_token {
        say(&format!("admin token: {token}"));
    }
    if let Some((path, made)) = &trust {
        say(&format!("tls certificate: {}", path.display()));
        for line in trust_lines(path, *made) {
            say(&line);
        }
    }
    let token = admin_token
        .as_ref()
        .map_or(String::new(), |token| format!("?token={token}"));
    say(&format!("dashboard: {}/__vidmock/{token}", server.uri()));
    shutdown.await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// The user's data directory for vidmock: where the local certificate authority is kept.
fn default_data_dir() -> Option<std::path::PathBuf> {
    directories::ProjectDirs::from("", "", "vidmock").map(|dirs| dirs.data_local_dir().to_owned())
}

/// What to do with the certificate printed on the `tls certificate:` line: trust it once, on
/// each platform (a local authority's is the same at every start).
fn trust_lines(path: &std::path::Path, made: Option<bool>) -> Vec<String> {
    let file = path.display();
    let mut lines = vec![match made {
        Some(true) => "  a local certificate authority, made now and kept: trust it once, and every later start is trusted too".to_owned(),
        Some(false) => "  the local certificate authority kept from an earlier start (already trusted if you did so once)".to_owned(),
        None => "  the certificate given with --tls-cert".to_owned(),
    }];
    if made.is_some() {
        lines.extend([
            format!("  macOS:   sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain \"{file}\""),
            format!("  Linux:   sudo cp \"{file}\" /usr/local/share/ca-certificates/vidmock.crt && sudo update-ca-certificates"),
            format!("           Chrome, Firefox: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n vidmock -i \"{file}\""),
            format!("  Windows: certutil -user -addstore Root \"{file}\""),
        ]);
    }
    lines.push(format!(
        "  Node:    NODE_EXTRA_CA_CERTS=\"{file}\"; curl: --cacert \"{file}\""
    ));
    lines
}

/// 16 bytes from the operating system's random source, as lower-case hex.
fn random_token() -> Option<String> {
    let mut bytes = [0u8; 16];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Prints one line to stdout. A reader that has gone away (it read the address and closed the
/// pipe) must not bring the server down, so write errors are ignored.
fn say(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Registers for the ways a terminal or a supervisor asks a process to stop, at once, and
/// resolves when one arrives: Ctrl-C everywhere, SIGTERM on Unix, Ctrl-Break and the console
/// window closing on Windows.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(windows)]
    {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close};
        let (interrupt, brk, close) = (ctrl_c(), ctrl_break(), ctrl_close());
        async move {
            // A handler that could not be registered never fires.
            let interrupt = async {
                match interrupt {
                    Ok(mut signal) => signal.recv().await,
                    Err(_) => std::future::pending().await,
                }
            };
            let brk = async {
                match brk {
                    Ok(mut signal) => signal.recv().await,
                    Err(_) => std::future::pending().await,
                }
            };
            let close = async {
                match close {
                    Ok(mut signal) => signal.recv().await,
                    Err(_) => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupt => {}
                _ = brk => {}
                _ = close => {}
            }
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
