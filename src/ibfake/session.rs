//! One client connection of the fake gateway: the handshake, startApi, and
//! strict parsing and answering of every request (server 178 layouts, as
//! ib_async 2.1.0's `client.py` encodes them).
//!
//! Cold code: runs on the connection's reader thread; replies are queued to
//! the connection's writer under the core lock.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::book::{Action, Order, OrderStatus, OrderType};
use super::faults::{HandshakeMode, OrderFault, Trigger};
use super::wire::{self, out};
use super::{now_parts, Core, Inner, LoggedRequest};

/// placeOrder field count for a plain STK MKT/LMT order at server 178,
/// message id included, trailing empty field excluded. Derived from ib_async
/// 2.1.0 `Client.placeOrder` at version 178 with no combo legs, no
/// delta-neutral order or contract, no scale increment, no hedge, no algo,
/// not PEG BENCH/BEST/MID, no conditions and exchange ≠ IBKRATS:
///
/// ```text
///   2 (id, orderId) + 12 (contract) + 2 (secIdType, secId)
/// + 19 (action … hidden)
/// + 7 ("", discretionaryAmt … faPercentage; no faProfile since 177)
/// + 24 (modelCode … deltaNeutralAuxPrice)
/// + 7 (continuousUpdate … scalePriceIncrement)
/// + 4 (scaleTable … hedgeType) + 4 (optOutSmartRouting … notHeld)
/// + 1 (delta-neutral contract flag) + 1 (algoStrategy)
/// + 6 (algoId … randomizePrice) + 1 (conditions count)
/// + 19 (adjustedOrderType … usePriceMgmtAlgo)
/// + 5 (duration, postToAts, autoCancelParent, advancedErrorOverride,
///      manualOrderTime)
/// = 114
/// ```
///
/// Calibration: the same sum at server 164 (faProfile in, no
/// advancedErrorOverride/manualOrderTime) gives 113, the count of
/// rust-ibapi v2.9.2's recorded 164 fixture. The parser walks the optional
/// groups too, so the count it enforces is this 114 plus whatever groups
/// the order's own fields switch on.
pub const PLACE_ORDER_FIELDS_STK: usize = 114;

/// Reads the handshake, then every request, until the socket closes.
pub(crate) fn run(inner: Arc<Inner>, conn: u64, mut stream: TcpStream) {
    if handshake(&inner, conn, &mut stream) {
        while let Ok(Some(payload)) = wire::read_frame(&mut stream) {
            handle_payload(&inner, conn, &payload);
        }
    }
    inner.core().close(conn);
}

/// `API\0`, the version frame, the reply. False when the connection is
/// over.
fn handshake(inner: &Inner, conn: u64, stream: &mut TcpStream) -> bool {
    let mut prefix = [0u8; 4];
    if !matches!(wire::read_exact_or_eof(stream, &mut prefix), Ok(true)) || &prefix != b"API\0" {
        return false;
    }
    let Ok(Some(payload)) = wire::read_frame(stream) else {
        return false;
    };
    let Some((lo, hi)) = wire::parse_version_range(&payload) else {
        return false;
    };
    let (_, time) = now_parts();
    let mode = inner.wire().handshake;
    let version = match mode {
        HandshakeMode::Silent => return drain(stream),
        HandshakeMode::ReplyVersion(v) => v,
        HandshakeMode::Normal => {
            let v = inner.cfg.server_version;
            if !(lo..=hi).contains(&v) {
                return false;
            }
            v
        }
    };
    inner.core().send(conn, vec![version.to_string(), time]);
    true
}

/// F10 silent mode: keep the socket open and read nothing useful until the
/// client gives up.
fn drain(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
    false
}

fn handle_payload(inner: &Inner, conn: u64, payload: &[u8]) {
    let mut core = inner.core();
    let client_id = core.conns.get(&conn).and_then(|c| c.client_id);
    let Some(fields) = wire::split_fields(payload) else {
        core.log.push(LoggedRequest {
            conn,
            client_id,
            msg_id: -1,
            fields: Vec::new(),
            problem: Some("payload does not end with NUL".into()),
        });
        core.send(
            conn,
            out::error(
                -1,
                320,
                "Server error when reading an API client request: fields must end with NUL",
            ),
        );
        return;
    };
    let msg_id: i32 = fields.first().and_then(|f| f.parse().ok()).unwrap_or(-1);
    // F13 pacing.
    if let Some(max) = inner.wire().max_msgs_per_sec {
        let now = Instant::now();
        let over = core.conns.get_mut(&conn).is_some_and(|c| {
            while c
                .recent
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
            {
                c.recent.pop_front();
            }
            c.recent.push_back(now);
            c.recent.len() > max as usize
        });
        if over {
            core.log.push(LoggedRequest {
                conn,
                client_id,
                msg_id,
                fields,
                problem: Some(format!("pacing: more than {max} messages in one second")),
            });
            let msg = format!(
                "Max rate of messages per second has been exceeded:max={max} rec={}",
                max + 1
            );
            core.send(conn, out::error(-1, 100, &msg));
            return;
        }
    }
    let idx = core.log.len();
    core.log.push(LoggedRequest {
        conn,
        client_id,
        msg_id,
        fields: fields.clone(),
        problem: None,
    });
    let result = if client_id.is_none() && msg_id != 71 {
        Err(Refusal::new(-1, 321, "request before startApi"))
    } else {
        dispatch(
            &mut core,
            inner,
            conn,
            client_id.unwrap_or(0),
            msg_id,
            &fields,
        )
    };
    if let Err(r) = result {
        if let Some(entry) = core.log.get_mut(idx) {
            entry.problem = Some(r.msg.clone());
        }
        let text = match r.code {
            320 => format!("Server error when reading an API client request: {}", r.msg),
            321 => format!("Error validating request:-'{}' : {}", msg_id, r.msg),
            _ => r.msg,
        };
        core.send(conn, out::error(r.id, r.code, &text));
    }
}

/// Why a request was refused: error(id, code, msg) is sent back and the
/// request log entry is flagged.
struct Refusal {
    id: i64,
    code: i32,
    msg: String,
}

impl Refusal {
    fn new(id: i64, code: i32, msg: impl Into<String>) -> Refusal {
        Refusal {
            id,
            code,
            msg: msg.into(),
        }
    }
}

/// Checks the version field (when the message has one) and the field
/// count.
fn shape(f: &[String], version: Option<&str>, count: usize, id: i64) -> Result<(), Refusal> {
    if let Some(v) = version {
        let got = f.get(1).map(String::as_str).unwrap_or("");
        if got != v {
            return Err(Refusal::new(
                id,
                321,
                format!("message version {got:?}, expected {v} at server 178"),
            ));
        }
    }
    if f.len() != count {
        return Err(Refusal::new(
            id,
            320,
            format!("{} fields, expected {count} at server 178", f.len()),
        ));
    }
    Ok(())
}

fn int_at(f: &[String], i: usize, name: &str) -> Result<i64, Refusal> {
    let raw = f.get(i).map(String::as_str).unwrap_or("");
    raw.parse().map_err(|_| {
        Refusal::new(
            -1,
            320,
            format!("field {i} ({name}) is {raw:?}, not an integer"),
        )
    })
}

fn str_at(f: &[String], i: usize) -> &str {
    f.get(i).map(String::as_str).unwrap_or("")
}

fn dispatch(
    core: &mut Core,
    inner: &Inner,
    conn: u64,
    client: i32,
    msg_id: i32,
    f: &[String],
) -> Result<(), Refusal> {
    let account = inner.cfg.account.clone();
    match msg_id {
        71 => start_api(core, inner, conn, f),
        1 => req_mkt_data(core, conn, f),
        2 => {
            shape(f, Some("2"), 3, -1)?;
            let req = int_at(f, 2, "reqId")?;
            if let Some(c) = core.conns.get_mut(&conn) {
                c.mkt_subs.remove(&req);
            }
            Ok(())
        }
        59 => {
            shape(f, Some("1"), 3, -1)?;
            let kind = int_at(f, 2, "marketDataType")?;
            if !(1..=4).contains(&kind) {
                return Err(Refusal::new(
                    -1,
                    321,
                    format!("market data type {kind} is not 1..4"),
                ));
            }
            if let Some(c) = core.conns.get_mut(&conn) {
                c.md_type = kind as i32;
            }
            Ok(())
        }
        97 => req_tick_by_tick(core, conn, f),
        98 => {
            shape(f, None, 2, -1)?;
            let req = int_at(f, 1, "reqId")?;
            if let Some(c) = core.conns.get_mut(&conn) {
                c.tbt_subs.remove(&req);
            }
            Ok(())
        }
        3 => place_order(core, inner, conn, client, f),
        4 => {
            let id = int_at(f, 2, "orderId").unwrap_or(-1);
            shape(f, Some("1"), 4, id)?;
            cancel_order(core, conn, client, id);
            Ok(())
        }
        58 => {
            shape(f, Some("1"), 2, -1)?;
            let live: Vec<i64> = core
                .state
                .orders
                .values()
                .filter(|o| !o.status.is_terminal())
                .map(|o| o.perm_id)
                .collect();
            for perm in live {
                cancel_perm(core, perm, false);
            }
            Ok(())
        }
        5 | 16 => {
            shape(f, Some("1"), 2, -1)?;
            let all = msg_id == 16;
            let live: Vec<Order> = core
                .state
                .orders
                .values()
                .filter(|o| !o.status.is_terminal() && (all || o.client_id == client))
                .cloned()
                .collect();
            for o in live {
                let oo = core.open_order_frame(&o, None);
                core.send(conn, oo);
                core.send(conn, Core::status_frame(&o));
            }
            core.send(conn, out::open_order_end());
            Ok(())
        }
        15 => shape(f, Some("1"), 3, -1),
        99 => {
            shape(f, None, 2, -1)?;
            core.send(conn, out::completed_orders_end());
            Ok(())
        }
        7 => req_executions(core, conn, f),
        61 => {
            shape(f, Some("1"), 2, -1)?;
            let rows: Vec<Vec<String>> = core
                .state
                .positions
                .iter()
                .filter_map(|(s, p)| {
                    core.contracts
                        .get(s)
                        .map(|c| out::position(&account, c, p.qty, p.avg_cost))
                })
                .collect();
            for r in rows {
                core.send(conn, r);
            }
            core.send(conn, out::position_end());
            if let Some(c) = core.conns.get_mut(&conn) {
                c.positions_sub = true;
            }
            Ok(())
        }
        64 => {
            shape(f, Some("1"), 2, -1)?;
            if let Some(c) = core.conns.get_mut(&conn) {
                c.positions_sub = false;
            }
            Ok(())
        }
        62 => {
            let req = int_at(f, 2, "reqId").unwrap_or(-1);
            shape(f, Some("1"), 5, req)?;
            let req = int_at(f, 2, "reqId")?;
            let wanted: Vec<&str> = str_at(f, 4).split(',').collect();
            for (tag, value) in core.account_values() {
                if wanted.contains(&tag) || wanted.contains(&"All") {
                    core.send(conn, out::account_summary(req, &account, tag, &value));
                }
            }
            core.send(conn, out::account_summary_end(req));
            Ok(())
        }
        63 => shape(f, Some("1"), 3, -1),
        6 => {
            shape(f, Some("2"), 4, -1)?;
            let subscribe = str_at(f, 2) == "1";
            let acct = str_at(f, 3);
            if !acct.is_empty() && acct != account {
                return Err(Refusal::new(
                    -1,
                    321,
                    format!("unknown account {acct:?}; the fake manages {account}"),
                ));
            }
            if let Some(c) = core.conns.get_mut(&conn) {
                c.account_updates = subscribe;
            }
            if subscribe {
                core.send_account_download(conn, &account);
            }
            Ok(())
        }
        76 => {
            let req = int_at(f, 2, "reqId").unwrap_or(-1);
            shape(f, Some("1"), 6, req)?;
            let mut frames: Vec<Vec<String>> = core
                .account_values()
                .into_iter()
                .map(|(k, v)| out::account_update_multi(req, &account, k, &v))
                .collect();
            frames.push(out::account_update_multi_end(req));
            for fr in frames {
                core.send(conn, fr);
            }
            Ok(())
        }
        77 => shape(f, Some("1"), 3, -1),
        8 => {
            shape(f, Some("1"), 3, -1)?;
            let id = core.state.next_valid_id;
            core.send(conn, out::next_valid_id(id));
            Ok(())
        }
        49 => {
            shape(f, Some("1"), 2, -1)?;
            let (secs, _) = now_parts();
            core.send(conn, out::current_time(secs));
            Ok(())
        }
        17 => {
            shape(f, Some("1"), 2, -1)?;
            core.send(conn, out::managed_accounts(&account));
            Ok(())
        }
        9 => {
            let req = int_at(f, 2, "reqId").unwrap_or(-1);
            // [9, 8, reqId, C12, includeExpired, secIdType, secId, issuerId (≥176)]
            shape(f, Some("8"), 19, req)?;
            let con_id: i64 = str_at(f, 3).parse().unwrap_or(0);
            let sec_type = str_at(f, 5);
            let found = core
                .contracts
                .values()
                .find(|c| {
                    (con_id != 0 && c.con_id == con_id) || (con_id == 0 && c.symbol == str_at(f, 4))
                })
                .filter(|_| sec_type.is_empty() || sec_type == "STK")
                .cloned();
            match found {
                Some(c) => {
                    core.send(conn, out::contract_details(req, &c));
                    core.send(conn, out::contract_details_end(req));
                }
                None => core.send(conn, out::error(req, 200, NO_SECDEF)),
            }
            Ok(())
        }
        other => Err(Refusal::new(
            -1,
            321,
            format!("message id {other} is not served by the fake gateway"),
        )),
    }
}

fn start_api(core: &mut Core, inner: &Inner, conn: u64, f: &[String]) -> Result<(), Refusal> {
    shape(f, Some("2"), 4, -1)?;
    let client = int_at(f, 2, "clientId")? as i32;
    if core.conns.get(&conn).and_then(|c| c.client_id).is_some() {
        return Err(Refusal::new(
            -1,
            321,
            "startApi sent twice on one connection",
        ));
    }
    if core.conn_of(client).is_some() {
        // F11: TWS refuses a second connection with the same client id.
        core.send(
            conn,
            out::error(-1, 326, "Unable to connect as the client id is already in use. Retry with a unique client id."),
        );
        core.close(conn);
        return Ok(());
    }
    if let Some(c) = core.conns.get_mut(&conn) {
        c.client_id = Some(client);
    }
    if let Some(entry) = core.log.last_mut() {
        entry.client_id = Some(client);
    }
    let account = inner.cfg.account.clone();
    let next = core.state.next_valid_id;
    core.send(conn, out::managed_accounts(&account));
    core.send(conn, out::next_valid_id(next));
    core.send(
        conn,
        out::error(-1, 2104, "Market data farm connection is OK:usfarm"),
    );
    core.send(
        conn,
        out::error(-1, 2106, "HMDS data farm connection is OK:ushmds"),
    );
    core.send(
        conn,
        out::error(-1, 2158, "Sec-def data farm connection is OK:secdefnj"),
    );
    for (delay, event) in inner.cfg.scheduled.iter().copied() {
        let weak = inner.self_ref();
        let _ = thread::Builder::new()
            .name("fake-ibkr-sched".into())
            .spawn(move || {
                thread::sleep(delay);
                if let Some(inner) = weak.upgrade() {
                    let mut core = inner.core();
                    if core.conns.contains_key(&conn) {
                        core.conn_event(conn, event);
                    }
                }
            });
    }
    Ok(())
}

/// The symbol of the C12 contract block whose conId is field `at`, when it
/// is a stock the fake knows.
fn stock_at<'a>(core: &Core, f: &'a [String], at: usize) -> Option<&'a str> {
    let symbol = str_at(f, at + 1);
    let sec_type = str_at(f, at + 2);
    (sec_type == "STK" && core.contracts.contains_key(symbol)).then_some(symbol)
}

const NO_SECDEF: &str = "No security definition has been found for the request";

fn req_mkt_data(core: &mut Core, conn: u64, f: &[String]) -> Result<(), Refusal> {
    let req = int_at(f, 2, "reqId").unwrap_or(-1);
    // [1, 11, reqId, C12, dnc flag (+3 when set), genericTicks, snapshot,
    //  regulatorySnapshot, mktDataOptions]; BAG combos are not served.
    let dnc = str_at(f, 15) == "1";
    shape(f, Some("11"), if dnc { 23 } else { 20 }, req)?;
    let Some(symbol) = stock_at(core, f, 3) else {
        core.send(conn, out::error(req, 200, NO_SECDEF));
        return Ok(());
    };
    let symbol = symbol.to_owned();
    let snapshot = str_at(f, f.len() - 3) == "1";
    let md_type = core.conns.get(&conn).map(|c| c.md_type).unwrap_or(1);
    let Some(q) = core.quotes.get(&symbol).copied() else {
        return Ok(());
    };
    core.send(conn, out::tick_req_params(req));
    core.send(conn, out::market_data_type(req, md_type));
    core.send(conn, out::tick_price(req, 1, q.bid, q.bid_size));
    core.send(conn, out::tick_price(req, 2, q.ask, q.ask_size));
    core.send(conn, out::tick_price(req, 4, q.last, 100.0));
    core.send(conn, out::tick_size(req, 0, q.bid_size));
    core.send(conn, out::tick_size(req, 3, q.ask_size));
    core.send(conn, out::tick_size(req, 5, 100.0));
    if snapshot {
        core.send(conn, vec!["57".into(), "1".into(), req.to_string()]);
    } else if let Some(c) = core.conns.get_mut(&conn) {
        c.mkt_subs.insert(req, symbol);
    }
    Ok(())
}

fn req_tick_by_tick(core: &mut Core, conn: u64, f: &[String]) -> Result<(), Refusal> {
    let req = int_at(f, 1, "reqId").unwrap_or(-1);
    // [97, reqId, C12, tickType, numberOfTicks, ignoreSize] (no version).
    shape(f, None, 17, req)?;
    let Some(symbol) = stock_at(core, f, 2) else {
        core.send(conn, out::error(req, 200, NO_SECDEF));
        return Ok(());
    };
    let symbol = symbol.to_owned();
    if str_at(f, 14) != "BidAsk" {
        return Err(Refusal::new(
            req,
            321,
            format!(
                "tick-by-tick type {:?}: the fake serves BidAsk only",
                str_at(f, 14)
            ),
        ));
    }
    let Some(q) = core.quotes.get(&symbol).copied() else {
        return Ok(());
    };
    let (now, _) = now_parts();
    core.send(
        conn,
        out::tick_by_tick_bid_ask(req, now, q.bid, q.ask, q.bid_size, q.ask_size),
    );
    if let Some(c) = core.conns.get_mut(&conn) {
        c.tbt_subs.insert(req, symbol);
    }
    Ok(())
}

/// A placeOrder as parsed.
struct Placed {
    order_id: i64,
    symbol: String,
    sec_type: String,
    action: String,
    total_qty: String,
    order_type: String,
    lmt_price: String,
    tif: String,
    account: String,
    order_ref: String,
    what_if: bool,
}

/// Walks placeOrder exactly as ib_async 2.1.0 `Client.placeOrder` writes it
/// at server 178, following every optional group the order's own fields
/// switch on, and requires the message to end where the walk ends.
fn parse_place_order(f: &[String]) -> Result<Placed, Refusal> {
    struct Cur<'a> {
        f: &'a [String],
        i: usize,
    }
    impl<'a> Cur<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [String], Refusal> {
            let end = self.i.saturating_add(n);
            let s = self.f.get(self.i..end).ok_or_else(|| {
                Refusal::new(
                    -1,
                    320,
                    format!(
                        "placeOrder has {} fields, too few for this order at server 178 (the walk needs field {}; a plain STK MKT/LMT order has {PLACE_ORDER_FIELDS_STK})",
                        self.f.len(),
                        end.saturating_sub(1)
                    ),
                )
            })?;
            self.i = end;
            Ok(s)
        }
        fn one(&mut self) -> Result<&'a str, Refusal> {
            Ok(self.take(1)?[0].as_str())
        }
        fn count(&mut self, what: &str) -> Result<usize, Refusal> {
            let raw = self.one()?;
            raw.parse().map_err(|_| {
                Refusal::new(
                    -1,
                    320,
                    format!("placeOrder {what} count {raw:?} is not a number"),
                )
            })
        }
    }
    let order_id = int_at(f, 1, "orderId")?;
    let with_id = |mut r: Refusal| {
        r.id = order_id;
        r
    };
    let mut c = Cur { f, i: 2 };
    let contract = c.take(12).map_err(with_id)?;
    let sec_type = contract[2].clone();
    let exchange = contract[7].clone();
    c.take(2).map_err(with_id)?; // secIdType, secId
    let head = c.take(19).map_err(with_id)?; // action … hidden
    let order_type = head[2].clone();
    if sec_type == "BAG" {
        let legs = c.count("combo leg").map_err(with_id)?;
        c.take(legs.saturating_mul(8)).map_err(with_id)?;
        let order_legs = c.count("order combo leg").map_err(with_id)?;
        c.take(order_legs).map_err(with_id)?;
        let params = c.count("smart combo routing param").map_err(with_id)?;
        c.take(params.saturating_mul(2)).map_err(with_id)?;
    }
    c.take(7).map_err(with_id)?; // "", discretionaryAmt … faPercentage
    let mid = c.take(24).map_err(with_id)?; // modelCode … deltaNeutralAuxPrice
    if !mid[22].is_empty() {
        c.take(8).map_err(with_id)?; // delta-neutral order fields
    }
    let scale = c.take(7).map_err(with_id)?; // continuousUpdate … scalePriceIncrement
    let increment: f64 = scale[6].parse().unwrap_or(0.0);
    if increment > 0.0 && increment < f64::MAX {
        c.take(7).map_err(with_id)?;
    }
    let hedge = c.take(4).map_err(with_id)?; // scaleTable, activeStart, activeStop, hedgeType
    if !hedge[3].is_empty() {
        c.take(1).map_err(with_id)?; // hedgeParam
    }
    c.take(4).map_err(with_id)?; // optOutSmartRouting … notHeld
    if c.one().map_err(with_id)? == "1" {
        c.take(3).map_err(with_id)?; // delta-neutral contract
    }
    if !c.one().map_err(with_id)?.is_empty() {
        let params = c.count("algo param").map_err(with_id)?;
        c.take(params.saturating_mul(2)).map_err(with_id)?;
    }
    let misc = c.take(6).map_err(with_id)?; // algoId, whatIf, orderMiscOptions, solicited, randomize×2
    let what_if = misc[1] == "1";
    if order_type == "PEG BENCH" || order_type == "PEGBENCH" {
        c.take(5).map_err(with_id)?;
    }
    if c.count("condition").map_err(with_id)? > 0 {
        return Err(Refusal::new(
            order_id,
            321,
            "order conditions are not served by the fake gateway",
        ));
    }
    c.take(19).map_err(with_id)?; // adjustedOrderType … usePriceMgmtAlgo
    c.take(5).map_err(with_id)?; // duration … manualOrderTime (158..169)
    if exchange == "IBKRATS" {
        c.take(1).map_err(with_id)?;
    }
    if order_type == "PEG BEST" || order_type == "PEGBEST" {
        let pb = c.take(2).map_err(with_id)?;
        if pb[1] == "Infinite" {
            c.take(2).map_err(with_id)?;
        }
    } else if order_type == "PEG MID" || order_type == "PEGMID" {
        c.take(2).map_err(with_id)?;
    }
    if c.i != f.len() {
        return Err(Refusal::new(
            order_id,
            320,
            format!(
                "placeOrder has {} fields, expected {} for this order at server 178",
                f.len(),
                c.i
            ),
        ));
    }
    Ok(Placed {
        order_id,
        symbol: contract[1].clone(),
        sec_type,
        action: head[0].clone(),
        total_qty: head[1].clone(),
        order_type,
        lmt_price: head[3].clone(),
        tif: head[5].clone(),
        account: head[7].clone(),
        order_ref: head[10].clone(),
        what_if,
    })
}

fn place_order(
    core: &mut Core,
    inner: &Inner,
    conn: u64,
    client: i32,
    f: &[String],
) -> Result<(), Refusal> {
    core.orders_placed += 1;
    let p = parse_place_order(f)?;
    let id = p.order_id;
    let faults = core.plan.take(Trigger::Place);
    let drop = faults.iter().find_map(|f| match f {
        OrderFault::DropOnPlaceOrder { book_order } => Some(*book_order),
        _ => None,
    });
    if drop.is_some() {
        // F1: the socket goes before any reply; later frames to this
        // client are dropped because it is no longer connected.
        core.close(conn);
    }
    if drop == Some(false) {
        return Ok(());
    }
    let reject = |core: &mut Core, msg: &str| {
        core.send(
            conn,
            out::error(id, 201, &format!("Order rejected - reason:{msg}")),
        );
    };
    // A placeOrder for a live order of this client is a modification.
    if let Some(o) = core.state.live_order_mut(client, id) {
        if let Ok(q) = p.total_qty.parse::<f64>() {
            if q > 0.0 {
                o.total_qty = q;
            }
        }
        if o.order_type == OrderType::Lmt {
            if let Ok(l) = p.lmt_price.parse::<f64>() {
                o.lmt_price = Some(l);
            }
        }
        o.order_ref = p.order_ref.clone();
        let o = o.clone();
        let oo = core.open_order_frame(&o, None);
        core.send(conn, oo);
        core.send(conn, Core::status_frame(&o));
        core.try_match(inner, o.perm_id);
        return Ok(());
    }
    if core.state.is_duplicate_id(client, id) {
        core.send(conn, out::error(id, 103, "Duplicate order id"));
        return Ok(());
    }
    core.state.note_order_id(client, id);
    if p.what_if {
        reject(core, "what-if orders are not served by the fake gateway");
        return Ok(());
    }
    if p.sec_type != "STK" || !core.contracts.contains_key(&p.symbol) {
        core.send(conn, out::error(id, 200, NO_SECDEF));
        return Ok(());
    }
    let action = match p.action.as_str() {
        "BUY" => Action::Buy,
        "SELL" => Action::Sell,
        other => {
            reject(
                core,
                &format!("action {other:?} is not served (BUY/SELL only)"),
            );
            return Ok(());
        }
    };
    let order_type = match p.order_type.as_str() {
        "MKT" => OrderType::Mkt,
        "LMT" => OrderType::Lmt,
        other => {
            reject(
                core,
                &format!("order type {other:?} is not served (MKT/LMT only)"),
            );
            return Ok(());
        }
    };
    let qty: f64 = p.total_qty.parse().unwrap_or(0.0);
    if qty <= 0.0 || !qty.is_finite() {
        reject(core, "The order size must be positive");
        return Ok(());
    }
    let lmt_price = match order_type {
        OrderType::Lmt => match p.lmt_price.parse::<f64>() {
            Ok(l) if l > 0.0 && l.is_finite() => Some(l),
            _ => {
                reject(core, "a limit order needs a positive limit price");
                return Ok(());
            }
        },
        OrderType::Mkt => None,
    };
    let perm_id = core.state.take_perm_id();
    let account = if p.account.is_empty() {
        inner.cfg.account.clone()
    } else {
        p.account.clone()
    };
    let mut order = Order {
        order_id: id,
        client_id: client,
        perm_id,
        symbol: p.symbol.clone(),
        action,
        total_qty: qty,
        order_type,
        lmt_price,
        tif: if p.tif.is_empty() {
            "DAY".into()
        } else {
            p.tif.clone()
        },
        order_ref: p.order_ref.clone(),
        account,
        status: OrderStatus::Submitted,
        filled: 0.0,
        avg_fill_price: 0.0,
        last_fill_price: 0.0,
    };
    if faults.contains(&OrderFault::Reject) {
        // F3: rejected; booked as Inactive so reqOpenOrders never shows it.
        order.status = OrderStatus::Inactive;
        core.state.orders.insert(perm_id, order.clone());
        reject(core, " fake gateway scripted reject (fault F3)");
        core.send(conn, Core::status_frame(&order));
        return Ok(());
    }
    core.state.orders.insert(perm_id, order.clone());
    let oo = core.open_order_frame(&order, None);
    core.send(conn, oo);
    core.send(conn, Core::status_frame(&order));
    core.try_match(inner, perm_id);
    Ok(())
}

fn cancel_order(core: &mut Core, conn: u64, client: i32, id: i64) {
    match core
        .state
        .find_order(client, id)
        .map(|o| (o.perm_id, o.status))
    {
        Some((perm, status)) if !status.is_terminal() => cancel_perm(core, perm, true),
        Some((_, status)) => core.send(
            conn,
            out::error(
                id,
                10148,
                &format!(
                    "OrderId {id} that needs to be cancelled cannot be cancelled, state: {}.",
                    status.as_str()
                ),
            ),
        ),
        None => core.send(
            conn,
            out::error(
                id,
                10147,
                &format!("OrderId {id} that needs to be cancelled is not found."),
            ),
        ),
    }
}

/// Cancels a live order: orderStatus(PendingCancel) (when `pending`),
/// orderStatus(Cancelled) and error(orderId, 202) to its owner.
fn cancel_perm(core: &mut Core, perm: i64, pending: bool) {
    let Some(o) = core.state.orders.get_mut(&perm) else {
        return;
    };
    let client = o.client_id;
    if pending {
        o.status = OrderStatus::PendingCancel;
        let fr = Core::status_frame(o);
        core.send_client(client, fr);
    }
    let Some(o) = core.state.orders.get_mut(&perm) else {
        return;
    };
    o.status = OrderStatus::Cancelled;
    let id = o.order_id;
    let fr = Core::status_frame(o);
    core.send_client(client, fr);
    core.send_client(client, out::error(id, 202, "Order Canceled - reason:"));
}

fn req_executions(core: &mut Core, conn: u64, f: &[String]) -> Result<(), Refusal> {
    let req = int_at(f, 2, "reqId").unwrap_or(-1);
    // [7, 3, reqId, clientId, acctCode, time, symbol, secType, exchange, side]
    shape(f, Some("3"), 10, req)?;
    let want_client: i64 = str_at(f, 3).parse().unwrap_or(0);
    let acct = str_at(f, 4);
    let since = str_at(f, 5).replace('-', " ");
    let symbol = str_at(f, 6);
    let sec_type = str_at(f, 7);
    let side = str_at(f, 9);
    let account = core.account.clone();
    let hits: Vec<super::Execution> = core
        .state
        .executions
        .iter()
        .filter(|e| want_client == 0 || e.client_id as i64 == want_client)
        .filter(|_| acct.is_empty() || acct == account)
        .filter(|e| {
            since.is_empty() || e.time.get(..17).unwrap_or("") >= since.get(..17).unwrap_or(&since)
        })
        .filter(|e| symbol.is_empty() || e.symbol == symbol)
        .filter(|_| sec_type.is_empty() || sec_type == "STK")
        .filter(|e| side.is_empty() || side == e.action.as_str() || side == e.action.exec_side())
        .cloned()
        .collect();
    for e in hits {
        let fr = core.exec_frame(&e, req);
        core.send(conn, fr);
        if let Some(c) = e.commission {
            core.send(conn, out::commission_report(&e.exec_id, c));
        }
    }
    core.send(conn, out::exec_details_end(req));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain STK order laid out as ib_async 2.1.0 sends it at 178.
    pub(crate) fn ib_async_like(order_type: &str, lmt: &str) -> Vec<String> {
        let mut f: Vec<String> = vec!["3".into(), "5".into()];
        f.extend(
            [
                "0", "AAPL", "STK", "", "0.0", "", "", "SMART", "", "USD", "", "",
            ]
            .map(String::from),
        );
        f.extend(["", ""].map(String::from));
        f.extend(
            [
                "BUY", "100", order_type, lmt, "", "DAY", "", "", "O", "0", "my-ref", "1", "0",
                "0", "0", "0", "0", "0", "0",
            ]
            .map(String::from),
        );
        f.resize(PLACE_ORDER_FIELDS_STK, String::new());
        f[CONDITIONS_COUNT_AT] = "0".into();
        f
    }

    /// Index of the conditions count in a plain order (2+12+2+19+7+24+7+4
    /// +4+1+1+6 fields precede it).
    const CONDITIONS_COUNT_AT: usize = 89;

    #[test]
    fn a_plain_order_of_114_fields_parses() {
        let p = parse_place_order(&ib_async_like("LMT", "101.5"))
            .ok()
            .unwrap();
        assert_eq!(p.order_id, 5);
        assert_eq!(p.symbol, "AAPL");
        assert_eq!(p.order_type, "LMT");
        assert_eq!(p.lmt_price, "101.5");
        assert_eq!(p.order_ref, "my-ref");
    }

    #[test]
    fn one_field_more_or_less_is_refused_with_the_expected_count() {
        let mut f = ib_async_like("MKT", "");
        f.push(String::new());
        let r = parse_place_order(&f).err().unwrap();
        assert_eq!((r.id, r.code), (5, 320));
        assert!(r.msg.contains("expected 114"), "{}", r.msg);
        f.truncate(PLACE_ORDER_FIELDS_STK - 1);
        assert!(parse_place_order(&f).is_err());
    }

    #[test]
    fn absurd_group_counts_are_refused_not_panicking() {
        let mut f = ib_async_like("MKT", "");
        f[4] = "BAG".into();
        f.insert(35, u64::MAX.to_string()); // combo legs count
        assert!(parse_place_order(&f).is_err());
    }

    #[test]
    fn optional_groups_extend_the_walk() {
        // deltaNeutralOrderType set → 8 more fields expected.
        let mut f = ib_async_like("MKT", "");
        f[35 + 7 + 22] = "MKT".into();
        assert!(parse_place_order(&f).is_err());
        // The eight delta-neutral fields follow deltaNeutralAuxPrice (66).
        for _ in 0..8 {
            f.insert(66, String::new());
        }
        assert!(parse_place_order(&f).is_ok());
    }
}
