//! `feed-server`: a websocket server speaking the Alpaca v2 market-data
//! protocol, serving the simulator or a CSV replay at a chosen rate, with
//! fault injection — for tests, demos and the latency benchmark. A thin
//! command line over `live_trading::feed::ws::server` (see its module doc
//! for the protocol, message shapes and faults).
//!
//! Cold tool code: its own threads, blocking I/O, printing.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use live_trading::feed::replay::ReplayParams;
use live_trading::feed::sim::SimParams;
use live_trading::feed::ws::server::{Faults, FeedServer, Rate, ServerConfig, Source};

/// Alpaca v2 market-data websocket server for tests and benchmarks.
///
/// Protocol: on upgrade `[{"T":"success","msg":"connected"}]`; auth with
/// `{"action":"auth","key":…,"secret":…}` within --auth-timeout-ms (else 404
/// and close; wrong key → 402 and close); `subscribe`/`unsubscribe` (401
/// before auth) answered with the full `subscription` set; then data frames
/// of `q`/`t`/`b` objects for the subscribed symbols and channels only.
///
/// Latency measurement: with --stamp-now every `t` is the wall-clock time
/// at send, so a client on the same host measures wire→engine latency from
/// its receive stamp and the quote's `t` (the message shapes stay exactly
/// Alpaca's).
///
/// The first line on stdout is `listening on ADDR` (useful with --port 0).
/// Stops on Ctrl-C / SIGTERM.
#[derive(Parser, Debug)]
#[command(name = "feed-server", version)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port; 0 picks a free one (printed on the first line).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Accepted key id [default: $APCA_API_KEY_ID].
    #[arg(long)]
    key: Option<String>,
    /// Accepted secret [default: $APCA_API_SECRET_KEY].
    #[arg(long)]
    secret: Option<String>,
    /// CSV replay files (quotes and/or bars, see the README); without any,
    /// the simulator is served.
    #[arg(long = "replay", value_name = "CSV")]
    replay: Vec<PathBuf>,
    /// Symbols, comma-separated: the replay's symbol list (required with
    /// --replay), or the simulator's universe (default: its six symbols).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// Replay bar length in seconds (a bar row's time is its start).
    #[arg(long, default_value_t = 60)]
    bar_seconds: u64,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Simulated trading days.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Simulated quotes per bar per symbol.
    #[arg(long, default_value_t = 6)]
    quotes_per_bar: u32,
    /// Messages per second, `real` (event-time pacing) or `max`.
    #[arg(long, default_value = "max")]
    rate: Rate,
    /// Most messages per frame.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Stamp every message's `t` with the wall-clock time at send.
    #[arg(long)]
    stamp_now: bool,
    /// Synthesise a trade after every N-th quote of a symbol (0 = none).
    #[arg(long, default_value_t = 0, value_name = "N")]
    trade_every: u64,
    /// Auth must arrive within this many milliseconds (else 404 + close).
    #[arg(long, default_value_t = 10_000)]
    auth_timeout_ms: u64,
    /// Most authenticated connections at once (406 beyond); 0 = no limit.
    #[arg(long, default_value_t = 0)]
    connection_limit: usize,
    /// PEM certificate chain: serve wss:// (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Fault: close the TCP connection abruptly every N messages.
    #[arg(long, default_value_t = 0, value_name = "N")]
    drop_every: u64,
    /// Fault: send a malformed (truncated JSON) frame after every N messages.
    #[arg(long, default_value_t = 0, value_name = "N")]
    malformed_every: u64,
    /// Fault: stall this many milliseconds (with --stall-every).
    #[arg(long, default_value_t = 0, value_name = "M")]
    stall_ms: u64,
    /// Fault: stall after every N messages.
    #[arg(long, default_value_t = 0, value_name = "N")]
    stall_every: u64,
    /// Fault: send `[{"T":"error","code":C,...}]` and close (with --error-after).
    #[arg(long, value_name = "C")]
    error_code: Option<u16>,
    /// Fault: the error goes out after this many messages.
    #[arg(long, default_value_t = 1, value_name = "N")]
    error_after: u64,
    /// Fault: once subscribed, stop reading from the client (pings go
    /// unanswered).
    #[arg(long)]
    no_pong: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let key = match args.key {
        Some(k) => k,
        None => std::env::var("APCA_API_KEY_ID").context("give --key or set APCA_API_KEY_ID")?,
    };
    let secret = match args.secret {
        Some(s) => s,
        None => std::env::var("APCA_API_SECRET_KEY")
            .context("give --secret or set APCA_API_SECRET_KEY")?,
    };
    let source = if args.replay.is_empty() {
        let mut params = SimParams {
            seed: args.seed,
            days: args.days,
            quotes_per_bar: args.quotes_per_bar,
            ..SimParams::default()
        };
        if !args.symbols.is_empty() {
            params.select_symbols(&args.symbols)?;
        }
        Source::Sim(params)
    } else {
        if args.symbols.is_empty() {
            bail!("--replay needs --symbols (the replay's symbol list)");
        }
        Source::Replay {
            files: args.replay,
            symbols: args.symbols,
            params: ReplayParams {
                bar_seconds: args.bar_seconds,
                ..ReplayParams::default()
            },
        }
    };
    let mut config =
        ServerConfig::new(SocketAddr::new(args.bind, args.port), &key, &secret, source);
    config.rate = args.rate;
    config.batch = args.batch;
    config.stamp_now = args.stamp_now;
    config.trade_every = args.trade_every;
    config.auth_timeout = Duration::from_millis(args.auth_timeout_ms);
    config.connection_limit = args.connection_limit;
    config.tls = args.tls_cert.zip(args.tls_key);
    config.faults = Faults {
        drop_every: args.drop_every,
        malformed_every: args.malformed_every,
        stall_every: args.stall_every,
        stall: Duration::from_millis(args.stall_ms),
        error_code: args.error_code,
        error_after: args.error_after,
        no_pong: args.no_pong,
    };
    let server = FeedServer::start(config)?;
    println!("listening on {}", server.local_addr());
    use std::io::Write as _;
    std::io::stdout().flush()?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = server.stats();
    server.stop();
    eprintln!("feed-server: {stats:?}");
    Ok(())
}
