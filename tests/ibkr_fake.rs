//! Integration tests of the fake IB gateway (`live_trading::ibfake`) over
//! real loopback sockets, driven by a tiny raw-socket TWS client written
//! here by hand (framing, handshake, field lists as ib_async 2.1.0 sends
//! them at server 178) — independent of our client in `src/broker/ibkr/`.
//!
//! Ordering checks use a barrier instead of time: the fake answers one
//! connection's requests in order, so "nothing between X and the reply to
//! reqCurrentTime" proves a frame was not sent.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use live_trading::ibfake::{
    ConnEvent, FakeConfig, FakeGateway, HandshakeMode, OrderFault, OrderStatus, WireFaults,
    WriteMode,
};

const WAIT: Duration = Duration::from_secs(5);

type Frame = Vec<String>;

struct Client {
    s: TcpStream,
}

fn frame(fields: &[String]) -> Vec<u8> {
    let body: Vec<u8> = fields
        .iter()
        .flat_map(|f| f.bytes().chain(std::iter::once(0)))
        .collect();
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Client {
    /// TCP connect and send `API\0` + the version range; no reply read.
    fn raw(addr: SocketAddr, range: &str) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut c = Client { s };
        let mut hello = b"API\0".to_vec();
        hello.extend((range.len() as u32).to_be_bytes());
        hello.extend(range.as_bytes());
        c.s.write_all(&hello).unwrap();
        c
    }

    /// Handshake + startApi; returns the client and the start-up burst
    /// (managedAccounts, nextValidId, farm notices).
    fn connect(addr: SocketAddr, client_id: i32) -> (Client, Vec<Frame>) {
        let mut c = Client::raw(addr, "v157..178");
        let hs = c.recv().expect("handshake reply");
        assert_eq!(hs.len(), 2, "handshake reply {hs:?}");
        assert_eq!(hs[0], "178");
        assert!(hs[1].ends_with(" UTC"), "connection time {:?}", hs[1]);
        c.send(&["71", "2", &client_id.to_string(), ""]);
        // The burst ends with the last farm notice (2158).
        let mut got: Vec<Frame> = Vec::new();
        while !got.iter().any(|f| f[0] == "4" && f[3] == "2158") {
            got.push(c.recv().expect("startup frames"));
        }
        assert!(
            got.iter().any(|f| f[0] == "9") && got.iter().any(|f| f[0] == "15"),
            "{got:?}"
        );
        (c, got)
    }

    fn send(&mut self, fields: &[&str]) {
        self.send_owned(&strs(fields));
    }

    fn send_owned(&mut self, fields: &[String]) {
        self.s.write_all(&frame(fields)).unwrap();
    }

    /// Next frame; None on EOF. Panics on a read timeout.
    fn recv(&mut self) -> Option<Frame> {
        let mut len = [0u8; 4];
        match self.s.read_exact(&mut len) {
            Ok(()) => {}
            Err(e)
                if e.kind() == ErrorKind::UnexpectedEof
                    || e.kind() == ErrorKind::ConnectionReset =>
            {
                return None
            }
            Err(e) => panic!("no frame within {WAIT:?}: {e}"),
        }
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        self.s.read_exact(&mut body).unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.ends_with('\0'), "frame without trailing NUL: {text:?}");
        let mut f: Vec<String> = text.split('\0').map(str::to_owned).collect();
        f.pop();
        Some(f)
    }

    /// Frames up to and including the first with message id `id`.
    fn until(&mut self, id: &str) -> Vec<Frame> {
        let mut out = Vec::new();
        loop {
            let f = self
                .recv()
                .unwrap_or_else(|| panic!("EOF while waiting for message {id}; got {out:?}"));
            let done = f[0] == id;
            out.push(f);
            if done {
                return out;
            }
        }
    }

    /// The first frame with message id `id` (others skipped).
    fn expect(&mut self, id: &str) -> Frame {
        self.until(id).pop().unwrap()
    }

    /// reqCurrentTime, then everything that arrives before its reply.
    fn barrier(&mut self) -> Vec<Frame> {
        self.send(&["49", "1"]);
        let mut v = self.until("49");
        v.pop();
        v
    }

    /// True when the peer closes the socket (frames before EOF skipped).
    fn closed(&mut self) -> bool {
        loop {
            match self.recv() {
                None => return true,
                Some(_) => continue,
            }
        }
    }

    /// True when nothing at all arrives within `d` (socket still open).
    fn silent_for(&mut self, d: Duration) -> bool {
        self.s.set_read_timeout(Some(d)).unwrap();
        let mut b = [0u8; 1];
        let r = self.s.read(&mut b);
        self.s.set_read_timeout(Some(WAIT)).unwrap();
        matches!(r, Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut)
    }
}

/// placeOrder exactly as ib_async 2.1.0 lays out a plain STK order at
/// server 178: 114 fields.
fn place(
    order_id: i64,
    symbol: &str,
    action: &str,
    qty: &str,
    kind: &str,
    lmt: &str,
    order_ref: &str,
) -> Vec<String> {
    let id = order_id.to_string();
    let mut f = strs(&[
        "3", &id, "0", symbol, "STK", "", "0.0", "", "", "SMART", "", "USD", "", "", "", "",
    ]);
    f.extend(strs(&[
        action, qty, kind, lmt, "", "DAY", "", "", "O", "0", order_ref, "1", "0", "0", "0", "0",
        "0", "0", "0",
    ]));
    f.resize(114, String::new());
    f[89] = "0".into(); // conditions count
    f
}

fn fields_of(frames: &[Frame], id: &str) -> Vec<Frame> {
    frames.iter().filter(|f| f[0] == id).cloned().collect()
}

fn errors(frames: &[Frame]) -> Vec<(String, String)> {
    frames
        .iter()
        .filter(|f| f[0] == "4")
        .map(|f| (f[2].clone(), f[3].clone()))
        .collect()
}

fn gw() -> FakeGateway {
    FakeGateway::start(FakeConfig::default()).unwrap()
}

/// Sends a market buy and returns every frame through the commission
/// report.
fn market_buy(c: &mut Client, id: i64, qty: &str) -> Vec<Frame> {
    c.send_owned(&place(
        id,
        "AAPL",
        "BUY",
        qty,
        "MKT",
        "",
        &format!("ref-{id}"),
    ));
    c.until("59")
}

#[test]
fn handshake_start_api_and_startup_burst() {
    let g = gw();
    let (mut c, burst) = Client::connect(g.addr(), 3);
    assert_eq!(fields_of(&burst, "15")[0], strs(&["15", "1", "DU0000001"]));
    assert_eq!(fields_of(&burst, "9")[0], strs(&["9", "1", "1"]));
    let mut rest = burst.clone();
    rest.extend(c.barrier());
    let codes: Vec<String> = errors(&rest)
        .into_iter()
        .map(|(id, code)| format!("{id}:{code}"))
        .collect();
    assert_eq!(codes, ["-1:2104", "-1:2106", "-1:2158"]);
    assert_eq!(g.connected_clients(), vec![3]);
    c.send(&["17", "1"]);
    assert_eq!(c.expect("15")[2], "DU0000001");
    c.send(&["8", "1", "1"]);
    assert_eq!(c.expect("9")[2], "1");
    assert!(
        g.malformed_requests().is_empty(),
        "{:?}",
        g.malformed_requests()
    );
}

#[test]
fn a_version_range_without_178_is_closed_without_reply() {
    let g = gw();
    let mut c = Client::raw(g.addr(), "v100..150");
    assert!(c.recv().is_none());
}

#[test]
fn f10_handshake_reply_version_and_silence() {
    let g = gw();
    g.set_wire_faults(WireFaults {
        handshake: HandshakeMode::ReplyVersion(176),
        ..WireFaults::default()
    });
    let mut c = Client::raw(g.addr(), "v157..178");
    assert_eq!(c.recv().unwrap()[0], "176");
    g.set_wire_faults(WireFaults {
        handshake: HandshakeMode::Silent,
        ..WireFaults::default()
    });
    let mut c = Client::raw(g.addr(), "v157..178");
    assert!(c.silent_for(Duration::from_millis(300)));
}

#[test]
fn f11_duplicate_client_id_gets_326_and_close() {
    let g = gw();
    let (mut first, _) = Client::connect(g.addr(), 5);
    let mut second = Client::raw(g.addr(), "v157..178");
    assert_eq!(second.recv().unwrap()[0], "178");
    second.send(&["71", "2", "5", ""]);
    let e = second.expect("4");
    assert_eq!((e[2].as_str(), e[3].as_str()), ("-1", "326"));
    assert!(second.closed());
    first.barrier(); // the first connection is untouched
    let (_third, _) = Client::connect(g.addr(), 6);
}

#[test]
fn market_order_fill_sequence_positions_and_account() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    let q = g.quote("AAPL").unwrap();
    let seq = market_buy(&mut c, 1, "100");
    let kinds: Vec<&str> = seq.iter().map(|f| f[0].as_str()).collect();
    assert_eq!(kinds, ["5", "3", "11", "3", "5", "59"]);
    assert_eq!(seq[0].len(), 135);
    assert_eq!(seq[0][93], "Submitted");
    assert_eq!(seq[0][23], "ref-1");
    assert_eq!(seq[1][2], "Submitted");
    let ex = &seq[2];
    assert_eq!(ex.len(), 32);
    assert_eq!(ex[1], "-1");
    assert_eq!(ex[18], "BOT");
    assert_eq!(ex[20].parse::<f64>().unwrap(), q.ask);
    assert_eq!(ex[26], "ref-1");
    let exec_id = &ex[14];
    assert!(
        exec_id.ends_with(".01.01") && exec_id.split('.').count() == 4,
        "{exec_id}"
    );
    assert_eq!(&seq[3][2..5], &strs(&["Filled", "100", "0"])[..]);
    assert_eq!(seq[4][93], "Filled");
    let cr = &seq[5];
    assert_eq!(cr.len(), 8);
    assert_eq!(&cr[2], exec_id);
    assert_eq!(cr[3], "1"); // 100 × 0.005 → 1 USD floor
    assert_eq!(cr[5], "1.7976931348623157E308");

    let paid = 100.0 * q.ask + 1.0;
    assert_eq!(g.cash(), 1_000_000.0 - paid);
    assert_eq!(g.positions()["AAPL"].qty, 100.0);
    drop(c);

    // Positions and account values persist across connections.
    let (mut c, _) = Client::connect(g.addr(), 2);
    c.send(&["61", "1"]);
    let rows = c.until("62");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].len(), 16);
    assert_eq!(
        (
            rows[0][2].as_str(),
            rows[0][4].as_str(),
            rows[0][14].as_str()
        ),
        ("DU0000001", "AAPL", "100")
    );
    c.send(&[
        "62",
        "1",
        "9",
        "All",
        "NetLiquidation,TotalCashValue,AvailableFunds,BuyingPower",
    ]);
    let rows = c.until("64");
    let tags: Vec<&str> = rows
        .iter()
        .filter(|f| f[0] == "63")
        .map(|f| f[4].as_str())
        .collect();
    assert_eq!(
        tags,
        [
            "NetLiquidation",
            "TotalCashValue",
            "AvailableFunds",
            "BuyingPower"
        ]
    );
    assert_eq!(rows[1][5], format!("{:.2}", 1_000_000.0 - paid));
    c.send(&["6", "2", "1", "DU0000001"]);
    let rows = c.until("54");
    assert!(
        rows.iter()
            .any(|f| f[0] == "7" && f.len() == 20 && f[3] == "AAPL" && f[13] == "100"),
        "{rows:?}"
    );
    assert!(
        g.malformed_requests().is_empty(),
        "{:?}",
        g.malformed_requests()
    );
}

#[test]
fn limit_rests_then_fills_when_the_quote_crosses() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    c.send_owned(&place(1, "AAPL", "BUY", "10", "LMT", "189.50", "lmt"));
    let ack = c.until("3");
    assert_eq!(ack[0][93], "Submitted");
    assert!(
        fields_of(&c.barrier(), "11").is_empty(),
        "no fill while resting"
    );
    c.send(&["5", "1"]);
    let open = c.until("53");
    assert_eq!(fields_of(&open, "5").len(), 1);
    assert!(g.push_quote("AAPL", 189.40, 189.45));
    let fill = c.until("59");
    let ex = fields_of(&fill, "11");
    assert_eq!(ex[0][20], "189.45");
    assert_eq!(g.orders()[0].status, OrderStatus::Filled);
}

#[test]
fn marketable_limit_fills_at_the_quote() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    let bid = g.quote("AAPL").unwrap().bid;
    c.send_owned(&place(1, "AAPL", "SELL", "10", "LMT", "150", "x"));
    let ex = fields_of(&c.until("59"), "11");
    assert_eq!(ex[0][20].parse::<f64>().unwrap(), bid);
    assert_eq!(ex[0][18], "SLD");
    assert_eq!(g.positions()["AAPL"].qty, -10.0);
}

#[test]
fn cancel_unknown_cancel_duplicate_id_and_global_cancel() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    c.send_owned(&place(10, "AAPL", "BUY", "10", "LMT", "100", "r"));
    c.until("3");
    c.send(&["4", "1", "10", ""]);
    let seq = c.until("4");
    let st: Vec<String> = fields_of(&seq, "3")
        .into_iter()
        .map(|f| f[2].clone())
        .collect();
    assert_eq!(st, ["PendingCancel", "Cancelled"]);
    assert_eq!(errors(&seq), [("10".to_string(), "202".to_string())]);
    c.send(&["4", "1", "77", ""]);
    let e = c.expect("4");
    assert_eq!((e[2].as_str(), e[3].as_str()), ("77", "10147"));
    assert_eq!(e[4], "OrderId 77 that needs to be cancelled is not found.");
    c.send_owned(&place(10, "AAPL", "BUY", "10", "LMT", "100", "dup"));
    let e = c.expect("4");
    assert_eq!(
        (e[2].as_str(), e[3].as_str(), e[4].as_str()),
        ("10", "103", "Duplicate order id")
    );
    c.send_owned(&place(9, "AAPL", "BUY", "10", "LMT", "100", "lower"));
    assert_eq!(c.expect("4")[3], "103");
    // Global cancel.
    c.send_owned(&place(11, "AAPL", "BUY", "10", "LMT", "100", "a"));
    c.send_owned(&place(12, "MSFT", "BUY", "10", "LMT", "100", "b"));
    c.barrier();
    c.send(&["58", "1"]);
    let seq = c.barrier();
    assert_eq!(errors(&seq).len(), 2);
    c.send(&["16", "1"]);
    assert_eq!(c.until("53").len(), 1, "no open orders left");
    assert!(
        g.malformed_requests().is_empty(),
        "{:?}",
        g.malformed_requests()
    );
}

#[test]
fn malformed_and_unknown_requests_are_refused_and_logged() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    let mut short = place(4, "AAPL", "BUY", "1", "MKT", "", "");
    short.pop();
    c.send_owned(&short);
    let e = c.expect("4");
    assert_eq!((e[2].as_str(), e[3].as_str()), ("4", "320"));
    assert!(e[4].contains("113") && e[4].contains("114"), "{}", e[4]);
    c.send(&["61", "2"]);
    assert_eq!(c.expect("4")[3], "321");
    c.send(&["9999", "1"]);
    assert_eq!(c.expect("4")[3], "321");
    let bad = g.malformed_requests();
    assert_eq!(
        bad.iter().map(|r| r.msg_id).collect::<Vec<_>>(),
        [3, 61, 9999]
    );
    assert_eq!(bad[0].fields.len(), 113);
    assert_eq!(g.orders_placed(), 1);
    assert!(g.orders().is_empty());
}

#[test]
fn market_data_ticks_cancel_unknown_symbol_and_tick_by_tick() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    let mut req = strs(&[
        "1", "11", "42", "0", "AAPL", "STK", "", "0.0", "", "", "SMART", "", "USD", "", "",
    ]);
    req.extend(strs(&["0", "", "0", "0", ""]));
    assert_eq!(req.len(), 20);
    c.send(&["59", "1", "1"]);
    c.send_owned(&req);
    let first = c.barrier();
    assert_eq!(first[0][0], "81");
    assert_eq!(first[1], strs(&["58", "1", "42", "1"]));
    let q = g.quote("AAPL").unwrap();
    let prices: Vec<(String, f64)> = fields_of(&first, "1")
        .iter()
        .map(|f| (f[3].clone(), f[4].parse().unwrap()))
        .collect();
    assert!(
        prices.contains(&("1".into(), q.bid)) && prices.contains(&("2".into(), q.ask)),
        "{prices:?}"
    );
    g.push_quote("AAPL", 191.0, 191.05);
    let upd = c.barrier();
    assert!(
        fields_of(&upd, "1")
            .iter()
            .any(|f| f[3] == "2" && f[4] == "191.05"),
        "{upd:?}"
    );
    c.send(&["2", "2", "42"]);
    c.barrier();
    g.push_quote("AAPL", 191.1, 191.15);
    assert!(fields_of(&c.barrier(), "1").is_empty());
    // Unknown symbol.
    req[2] = "43".into();
    req[4] = "ZZZZ".into();
    c.send_owned(&req);
    let e = c.expect("4");
    assert_eq!((e[2].as_str(), e[3].as_str()), ("43", "200"));
    assert_eq!(
        e[4],
        "No security definition has been found for the request"
    );
    // Tick-by-tick BidAsk.
    let mut tbt = strs(&[
        "97", "44", "0", "MSFT", "STK", "", "0.0", "", "", "SMART", "", "USD", "", "",
    ]);
    tbt.extend(strs(&["BidAsk", "0", "0"]));
    c.send_owned(&tbt);
    let t = c.expect("99");
    assert_eq!(t.len(), 9);
    assert_eq!((t[1].as_str(), t[2].as_str()), ("44", "3"));
    g.push_quote("MSFT", 400.0, 400.5);
    let t = c.expect("99");
    assert_eq!((t[4].as_str(), t[5].as_str()), ("400", "400.5"));
    assert!(
        g.malformed_requests().is_empty(),
        "{:?}",
        g.malformed_requests()
    );
}

#[test]
fn executions_query_returns_fills_with_commissions_and_filters() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    market_buy(&mut c, 1, "300");
    c.send(&["7", "3", "5", "0", "", "", "", "", "", ""]);
    let rows = c.until("55");
    let kinds: Vec<&str> = rows.iter().map(|f| f[0].as_str()).collect();
    assert_eq!(kinds, ["11", "59", "55"]);
    assert_eq!(rows[0][1], "5");
    assert_eq!(rows[1][3], "1.5");
    c.send(&["7", "3", "6", "0", "", "", "MSFT", "", "", ""]);
    assert_eq!(c.until("55").len(), 1);
    c.send(&["99", "0"]);
    c.expect("102");
}

#[test]
fn contract_details_qualify_known_stocks_only() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    let mut req = strs(&[
        "9", "8", "3", "0", "MSFT", "STK", "", "0.0", "", "", "SMART", "", "USD", "", "",
    ]);
    req.extend(strs(&["0", "", "", ""]));
    assert_eq!(req.len(), 19);
    c.send_owned(&req);
    let rows = c.until("52");
    assert_eq!(rows[0].len(), 40);
    assert_eq!(
        (rows[0][2].as_str(), rows[0][12].as_str()),
        ("MSFT", "1001")
    );
    req[4] = "ZZZZ".into();
    c.send_owned(&req);
    assert_eq!(c.expect("4")[3], "200");
}

#[test]
fn f1_disconnect_on_place_order_booked_or_not() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    g.set_fault(OrderFault::DropOnPlaceOrder { book_order: false });
    c.send_owned(&place(1, "AAPL", "BUY", "10", "MKT", "", "lost"));
    assert!(c.closed());
    assert!(g.orders().is_empty());
    let (mut c, burst) = Client::connect(g.addr(), 1);
    assert_eq!(
        fields_of(&burst, "9")[0][2],
        "1",
        "an unbooked id is not used"
    );
    g.set_fault(OrderFault::DropOnPlaceOrder { book_order: true });
    c.send_owned(&place(1, "AAPL", "BUY", "10", "MKT", "", "kept"));
    assert!(c.closed());
    let (mut c, burst) = Client::connect(g.addr(), 1);
    assert_eq!(fields_of(&burst, "9")[0][2], "2");
    c.send(&["7", "3", "1", "0", "", "", "", "", "", ""]);
    let rows = c.until("55");
    assert_eq!(fields_of(&rows, "11")[0][26], "kept");
}

#[test]
fn f2_disconnect_after_exec_details_then_recover_by_query() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    g.set_fault(OrderFault::DropAfterExecDetails);
    c.send_owned(&place(1, "AAPL", "BUY", "10", "MKT", "", "f2"));
    let mut got = Vec::new();
    while let Some(f) = c.recv() {
        got.push(f);
    }
    let kinds: Vec<&str> = got.iter().map(|f| f[0].as_str()).collect();
    assert_eq!(kinds, ["5", "3", "11"]);
    let exec_id = got[2][14].clone();
    let (mut c, _) = Client::connect(g.addr(), 1);
    c.send(&["7", "3", "1", "0", "", "", "", "", "", ""]);
    let rows = c.until("55");
    assert_eq!(rows[0][14], exec_id);
    assert_eq!(rows[1][2], exec_id, "the commission comes with the replay");
    c.send(&["5", "1"]);
    assert_eq!(c.until("53").len(), 1, "the order is no longer open");
}

#[test]
fn f3_reject_sends_201_and_inactive_without_booking() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    g.set_fault(OrderFault::Reject);
    c.send_owned(&place(1, "AAPL", "BUY", "10", "MKT", "", "r"));
    let seq = c.until("3");
    assert_eq!(errors(&seq)[0], ("1".to_string(), "201".to_string()));
    assert!(seq[0][4].starts_with("Order rejected - reason:"));
    assert_eq!(seq[1][2], "Inactive");
    assert!(fields_of(&c.barrier(), "11").is_empty());
    assert!(g.positions().is_empty());
    // Once only: the next order fills.
    market_buy(&mut c, 2, "10");
}

#[test]
fn f4_duplicate_exec_details_and_order_status() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    g.set_fault(OrderFault::DuplicateReports);
    let seq = market_buy(&mut c, 1, "10");
    let ex = fields_of(&seq, "11");
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0], ex[1]);
    assert_eq!(
        fields_of(&seq, "3")
            .iter()
            .filter(|f| f[2] == "Filled")
            .count(),
        2
    );
    assert_eq!(g.executions().len(), 1);
    assert_eq!(g.positions()["AAPL"].qty, 10.0);
}

#[test]
fn f5_corrected_execution_replaces_the_original() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    let ask = g.quote("AAPL").unwrap().ask;
    g.set_fault(OrderFault::CorrectExecution { price_offset: 0.25 });
    let seq = market_buy(&mut c, 1, "10");
    let ex = fields_of(&seq, "11");
    assert_eq!(ex.len(), 2);
    assert!(ex[0][14].ends_with(".01.01") && ex[1][14].ends_with(".01.02"));
    assert_eq!(
        ex[0][14].rsplit_once('.').unwrap().0,
        ex[1][14].rsplit_once('.').unwrap().0
    );
    assert_eq!(
        ex[1][20].parse::<f64>().unwrap(),
        ((ask + 0.25) * 1e6).round() / 1e6
    );
    assert_eq!(fields_of(&seq, "59")[0][2], ex[1][14]);
    let execs = g.executions();
    assert_eq!(execs.len(), 1);
    assert_eq!(execs[0].exec_id, ex[1][14]);
    assert_eq!(g.cash(), 1_000_000.0 - 10.0 * (ask + 0.25) - 1.0);
}

#[test]
fn f6_commission_first_and_never() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    g.set_fault(OrderFault::CommissionBeforeExec);
    c.send_owned(&place(1, "AAPL", "BUY", "10", "MKT", "", "a"));
    let mut seq = c.until("59");
    seq.extend(c.barrier());
    let kinds: Vec<&str> = seq.iter().map(|f| f[0].as_str()).collect();
    assert_eq!(kinds, ["5", "3", "59", "11", "3", "5"]);
    assert_eq!(seq[2][2], seq[3][14]);
    g.set_fault(OrderFault::CommissionNever);
    c.send_owned(&place(2, "AAPL", "BUY", "10", "MKT", "", "b"));
    let mut seq = c.until("11");
    seq.extend(c.barrier());
    assert!(fields_of(&seq, "59").is_empty(), "{seq:?}");
    c.send(&["7", "3", "1", "0", "", "", "", "", "", ""]);
    let rows = c.until("55");
    assert_eq!(fields_of(&rows, "11").len(), 2);
    assert_eq!(
        fields_of(&rows, "59").len(),
        1,
        "the missing report stays missing"
    );
}

#[test]
fn commission_delay_sends_the_report_later() {
    let cfg = FakeConfig {
        commission_delay: Duration::from_millis(30),
        ..FakeConfig::default()
    };
    let g = FakeGateway::start(cfg).unwrap();
    let (mut c, _) = Client::connect(g.addr(), 1);
    let seq = market_buy(&mut c, 1, "10");
    assert_eq!(seq.last().unwrap()[0], "59");
}

#[test]
fn f7_f8_connectivity_lost_and_restored_keep_the_socket() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    g.connectivity_event(ConnEvent::LostThenRestoredKept);
    let seq = c.barrier();
    assert_eq!(
        errors(&seq),
        [("-1".into(), "1100".into()), ("-1".into(), "1102".into())]
    );
    g.connectivity_event(ConnEvent::LostThenRestoredLost);
    let seq = c.barrier();
    assert_eq!(
        errors(&seq),
        [("-1".into(), "1100".into()), ("-1".into(), "1101".into())]
    );
    g.connectivity_event(ConnEvent::FarmBrokenThenOk);
    let codes: Vec<String> = errors(&c.barrier()).into_iter().map(|e| e.1).collect();
    assert_eq!(codes, ["2103", "2105", "2104", "2106"]);
}

#[test]
fn f9_port_reset_closes_and_hang_goes_silent() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    g.connectivity_event(ConnEvent::PortResetThenClose);
    assert_eq!(c.expect("4")[3], "1300");
    assert!(c.closed());
    let (mut c, _) = Client::connect(g.addr(), 1);
    g.set_hang(true);
    c.send(&["49", "1"]);
    assert!(c.silent_for(Duration::from_millis(300)));
    g.set_hang(false);
    c.barrier();
    assert_eq!(g.requests().iter().filter(|r| r.msg_id == 49).count(), 2);
}

#[test]
fn scheduled_events_fire_after_start_api() {
    let cfg = FakeConfig {
        scheduled: vec![(Duration::ZERO, ConnEvent::LostThenRestoredKept)],
        ..FakeConfig::default()
    };
    let g = FakeGateway::start(cfg).unwrap();
    let (mut c, _) = Client::connect(g.addr(), 1);
    assert_eq!(c.expect("4")[3], "1100");
    assert_eq!(c.expect("4")[3], "1102");
}

#[test]
fn f12_split_and_coalesced_writes_decode_the_same() {
    for mode in [WriteMode::SplitBytes, WriteMode::Coalesce] {
        let g = gw();
        g.set_wire_faults(WireFaults {
            write_mode: mode,
            ..WireFaults::default()
        });
        let (mut c, _) = Client::connect(g.addr(), 1);
        let seq = market_buy(&mut c, 1, "10");
        let kinds: Vec<&str> = seq.iter().map(|f| f[0].as_str()).collect();
        assert_eq!(kinds, ["5", "3", "11", "3", "5", "59"], "{mode:?}");
        assert_eq!(seq[0].len(), 135);
    }
}

#[test]
fn f13_pacing_violation_gets_error_100() {
    let g = gw();
    g.set_wire_faults(WireFaults {
        max_msgs_per_sec: Some(3),
        ..WireFaults::default()
    });
    let (mut c, _) = Client::connect(g.addr(), 1);
    for _ in 0..8 {
        c.send(&["17", "1"]);
    }
    c.send(&["49", "1"]);
    let mut seq = Vec::new();
    while !(errors(&seq).iter().any(|e| e.1 == "100")) {
        seq.push(c.recv().unwrap());
    }
    assert!(g.malformed_requests().iter().any(|r| r
        .problem
        .as_deref()
        .unwrap_or("")
        .contains("pacing")));
}

#[test]
fn slow_replies_still_arrive_in_order() {
    let g = gw();
    g.set_wire_faults(WireFaults {
        reply_delay: Duration::from_millis(5),
        ..WireFaults::default()
    });
    let (mut c, _) = Client::connect(g.addr(), 1);
    let seq = market_buy(&mut c, 1, "10");
    assert_eq!(seq.len(), 6);
}

#[test]
fn f15_restart_keeps_positions_orders_executions_and_ids() {
    let g = gw();
    let (mut c, _) = Client::connect(g.addr(), 1);
    market_buy(&mut c, 7, "10");
    c.send_owned(&place(8, "AAPL", "BUY", "5", "LMT", "100", "resting"));
    c.until("3");
    let mut state = g.stop();
    assert!(c.closed());
    assert_eq!(state.next_valid_id, 9);
    state.next_valid_id = 3; // a fake that lost its counter
    let g = FakeGateway::resume(FakeConfig::default(), state).unwrap();
    let (mut c, burst) = Client::connect(g.addr(), 1);
    assert_eq!(fields_of(&burst, "9")[0][2], "3");
    c.send(&["61", "1"]);
    assert_eq!(c.until("62")[0][14], "10");
    c.send(&["5", "1"]);
    let open = c.until("53");
    assert_eq!(fields_of(&open, "5")[0][23], "resting");
    c.send_owned(&place(8, "AAPL", "BUY", "1", "MKT", "", "x"));
    // id 8 is the live order: this is a modification, not a new order.
    assert_eq!(c.until("3").last().unwrap()[1], "8");
    c.send_owned(&place(5, "AAPL", "BUY", "1", "MKT", "", "old"));
    assert_eq!(c.expect("4")[3], "103");
    c.send(&["7", "3", "1", "0", "", "", "", "", "", ""]);
    assert_eq!(fields_of(&c.until("55"), "11").len(), 1);
}

#[test]
fn requests_before_start_api_are_refused() {
    let g = gw();
    let mut c = Client::raw(g.addr(), "v157..178");
    c.recv().unwrap();
    c.send(&["49", "1"]);
    assert_eq!(c.expect("4")[3], "321");
    assert_eq!(g.malformed_requests().len(), 1);
}
