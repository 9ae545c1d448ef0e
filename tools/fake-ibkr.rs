//! `fake-ibkr`: a fake IB gateway speaking the TWS socket API in text mode
//! at server version 178 — handshake, account, positions, a quote
//! generator, an order matcher and fault injection — for tests, demos and
//! the ib_async cross-check. A thin command line over
//! `live_trading::ibfake` (see its module doc for the messages served and
//! the faults).
//!
//! Cold tool code: its own threads, blocking I/O, printing.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use live_trading::ibfake::{
    ConnEvent, FakeConfig, FakeGateway, FakeState, HandshakeMode, OrderFault, Shots, SymbolSpec,
    WireFaults, WriteMode,
};

/// Fake IB gateway (TWS API text protocol, server version 178).
///
/// The first line on stdout is `listening ADDR` (useful with --port 0).
/// Stops on Ctrl-C / SIGTERM.
#[derive(Parser, Debug)]
#[command(name = "fake-ibkr", version)]
struct Args {
    /// TCP port (0 = pick a free one; IB Gateway paper uses 4002).
    #[arg(long, default_value_t = 4002)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The managed account.
    #[arg(long, default_value = "DU0000001")]
    account: String,
    /// Starting cash in USD.
    #[arg(long, default_value_t = 1_000_000.0)]
    cash: f64,
    /// Tradable symbols, `SYM` or `SYM=PRICE`, comma-separated.
    #[arg(
        long,
        default_value = "AAPL=190,MSFT=410,SPY=520",
        value_delimiter = ','
    )]
    symbols: Vec<String>,
    /// Random-walk quote updates per second (0 = quotes never move).
    #[arg(long, default_value_t = 2.0)]
    quote_rate: f64,
    /// Seed of the quote random walk.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Server version replied in the handshake (layouts stay those of 178).
    #[arg(long, default_value_t = 178)]
    server_version: u32,
    /// Delay between a fill and its commissionReport, milliseconds.
    #[arg(long, default_value_t = 0)]
    commission_delay_ms: u64,
    /// Order fault armed for every order (repeatable): drop-on-place,
    /// drop-on-place-booked, drop-after-exec, reject, duplicate, correct,
    /// commission-first, commission-never.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Order fault armed for the next order only (repeatable; same names).
    #[arg(long = "fault-once")]
    faults_once: Vec<String>,
    /// Connectivity event fired on each connection SECS after its startApi
    /// (repeatable): `EVENT@SECS` with EVENT one of 1100-1102, 1100-1101,
    /// 1300, hang, disconnect, farm.
    #[arg(long = "event")]
    events: Vec<String>,
    /// F10: always reply this server version in the handshake.
    #[arg(long)]
    handshake_version: Option<u32>,
    /// F10: never reply to the handshake.
    #[arg(long)]
    handshake_silent: bool,
    /// F12: write every byte separately.
    #[arg(long, conflicts_with = "coalesce_frames")]
    split_frames: bool,
    /// F12: write queued frames together.
    #[arg(long)]
    coalesce_frames: bool,
    /// F13: error 100 above this many requests per second per connection.
    #[arg(long)]
    max_msgs_per_sec: Option<u32>,
    /// F15: JSON file holding the gateway's state (positions, orders,
    /// executions, order ids): loaded at start when it exists, written on
    /// Ctrl-C / SIGTERM — so a restart keeps the books.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Slow replies: hold every frame this many milliseconds.
    #[arg(long, default_value_t = 0)]
    reply_delay_ms: u64,
}

fn config(args: &Args) -> anyhow::Result<FakeConfig> {
    let mut symbols = Vec::new();
    for s in &args.symbols {
        match SymbolSpec::parse(s.trim()) {
            Some(spec) => symbols.push(spec),
            None => bail!("--symbols: {s:?} is not SYM or SYM=PRICE (price above 0.02)"),
        }
    }
    if symbols.is_empty() {
        bail!("--symbols: give at least one symbol");
    }
    if !(args.quote_rate >= 0.0 && args.quote_rate <= 1000.0) {
        bail!("--quote-rate {} must be within 0..=1000", args.quote_rate);
    }
    let mut faults = Vec::new();
    for (names, shots) in [
        (&args.faults, Shots::Always),
        (&args.faults_once, Shots::Once),
    ] {
        for n in names {
            let Some(f) = OrderFault::parse(n) else {
                bail!(
                    "--fault {n:?}: unknown; one of {}",
                    OrderFault::NAMES.join(", ")
                );
            };
            faults.push((f, shots));
        }
    }
    let mut scheduled = Vec::new();
    for e in &args.events {
        let (name, secs) = e.split_once('@').unwrap_or((e.as_str(), "1"));
        let event = ConnEvent::parse(name)
            .with_context(|| format!("--event {e:?}: unknown event; one of 1100-1102, 1100-1101, 1300, hang, disconnect, farm"))?;
        let secs: f64 = secs
            .parse()
            .with_context(|| format!("--event {e:?}: SECS after @ must be a number"))?;
        if !(0.0..=86_400.0).contains(&secs) {
            bail!("--event {e:?}: SECS must be within 0..=86400");
        }
        scheduled.push((Duration::from_secs_f64(secs), event));
    }
    let handshake = match (args.handshake_silent, args.handshake_version) {
        (true, _) => HandshakeMode::Silent,
        (false, Some(v)) => HandshakeMode::ReplyVersion(v),
        (false, None) => HandshakeMode::Normal,
    };
    let write_mode = if args.split_frames {
        WriteMode::SplitBytes
    } else if args.coalesce_frames {
        WriteMode::Coalesce
    } else {
        WriteMode::Normal
    };
    Ok(FakeConfig {
        bind: SocketAddr::new(args.bind, args.port),
        account: args.account.clone(),
        cash: args.cash,
        symbols,
        quote_rate_hz: args.quote_rate,
        seed: args.seed,
        server_version: args.server_version,
        commission_delay: Duration::from_millis(args.commission_delay_ms),
        wire: WireFaults {
            handshake,
            write_mode,
            max_msgs_per_sec: args.max_msgs_per_sec,
            reply_delay: Duration::from_millis(args.reply_delay_ms),
        },
        faults,
        scheduled,
        ..FakeConfig::default()
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = config(&args)?;
    let saved: Option<FakeState> = match &args.state {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --state {}", path.display()))?;
            let state = serde_json::from_str(&text).with_context(|| {
                format!(
                    "--state {}: not a fake-ibkr state file (delete it to start fresh)",
                    path.display()
                )
            })?;
            Some(state)
        }
        _ => None,
    };
    let gw = match saved {
        Some(state) => FakeGateway::resume(cfg, state),
        None => FakeGateway::start(cfg),
    }
    .with_context(|| format!("binding {}:{}", args.bind, args.port))?;
    println!("listening {}", gw.addr());
    std::io::stdout().flush()?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing the signal handler")?;
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let state = gw.stop();
    if let Some(path) = &args.state {
        let text = serde_json::to_string_pretty(&state).context("encoding the state")?;
        std::fs::write(path, text)
            .with_context(|| format!("writing --state {}", path.display()))?;
    }
    eprintln!(
        "fake-ibkr: stopped; {} orders, {} executions, cash {:.2}",
        state.orders.len(),
        state.executions.len(),
        state.cash
    );
    Ok(())
}
