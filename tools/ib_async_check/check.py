#!/usr/bin/env python3
"""Cross-check the fake IB gateway (`fake-ibkr`) with ib_async, an
independent TWS API client (BROKERS-AND-FEEDS §5.2 item 7).

Drives a running fake over the real socket protocol: connect (ib_async's
own start-up requests must all complete), managed accounts, account
summary and account values, market data (tickPrice and tick-by-tick),
a market order to a fill with its commission report joined, a far limit
cancelled, a rejected order, executions, positions, open orders and a
global cancel. Prints one line per check; exits 1 on the first failed
check, on any step timing out, or if ib_async logs a decode error
("Error handling fields", a wrapper call that raised, an order status for
an unknown order) anywhere during the run.

Usage: check.py --port PORT [--host 127.0.0.1] [--account DU0000001]
                [--cash 1000000]
The fake must be fresh (no positions, starting cash as given) and quote
AAPL.
"""

import argparse
import logging
import math
import sys
import time

from ib_async import IB, LimitOrder, MarketOrder, Stock


class DecodeErrors(logging.Handler):
    """Collects every ib_async log record that means the fake sent
    something ib_async could not decode or match."""

    MARKERS = ("Error handling fields", "Error for ", "No order found")

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        text = record.getMessage()
        from_decoder = record.name.endswith("Decoder") and record.levelno >= logging.ERROR
        if from_decoder or any(m in text for m in self.MARKERS):
            self.records.append(f"{record.name}: {text}")


CAUGHT = DecodeErrors()

def fail(msg):
    print(f"FAIL {msg}", flush=True)
    sys.exit(1)


def ok(msg):
    if CAUGHT.records:
        fail(f"ib_async decode error before '{msg}': {CAUGHT.records[0]}")
    print(f"ok   {msg}", flush=True)


def wait(ib, what, cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        ib.sleep(0.02)
    if not cond():
        fail(f"timed out after {timeout:.0f}s waiting for {what}")


def near(a, b, tol=1e-6):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--account", default="DU0000001")
    ap.add_argument("--cash", type=float, default=1_000_000.0)
    args = ap.parse_args()

    lib = logging.getLogger("ib_async")
    lib.setLevel(logging.INFO)
    lib.addHandler(CAUGHT)
    lib.propagate = False

    errors = []  # (reqId, code, message)
    ib = IB()
    ib.errorEvent += lambda reqId, code, msg, _contract: errors.append((reqId, code, msg))

    # 1. connect: handshake, startApi, nextValidId + managedAccounts, then
    #    ib_async's start-up requests (positions, open orders, completed
    #    orders, account updates, account updates multi, executions).
    try:
        ib.connect(args.host, args.port, clientId=7, timeout=10, raiseSyncErrors=True)
    except Exception as e:  # noqa: BLE001 - any failure to connect is the finding
        fail(f"connect: {e!r}")
    if ib.client.serverVersion() != 178:
        fail(f"server version {ib.client.serverVersion()}, expected 178")
    ok("connect: server version 178, start-up requests answered")

    accounts = ib.managedAccounts()
    if accounts != [args.account]:
        fail(f"managed accounts {accounts}, expected [{args.account}]")
    ok(f"managed accounts {accounts}")

    # 2. account summary and account values.
    summary = {v.tag: v for v in ib.accountSummary() if v.account == args.account}
    for tag in ("NetLiquidation", "TotalCashValue", "AvailableFunds", "BuyingPower"):
        if tag not in summary:
            fail(f"account summary lacks {tag}: {sorted(summary)}")
    if not near(float(summary["TotalCashValue"].value), args.cash):
        fail(f"TotalCashValue {summary['TotalCashValue'].value}, expected {args.cash}")
    if summary["TotalCashValue"].currency != "USD":
        fail(f"TotalCashValue currency {summary['TotalCashValue'].currency}")
    ok(f"account summary: TotalCashValue {summary['TotalCashValue'].value} USD, "
       f"NetLiquidation {summary['NetLiquidation'].value}")
    values = {v.tag: v.value for v in ib.accountValues() if v.account == args.account}
    if not values or not near(float(values.get("TotalCashValue", "nan")), args.cash):
        fail(f"account values (reqAccountUpdates) wrong: {values}")
    ok(f"account values: {len(values)} tags, TotalCashValue {values['TotalCashValue']}")
    if ib.positions():
        fail(f"fresh fake has positions: {ib.positions()}")
    ok("positions: none at start")

    # 3. market data.
    aapl = Stock("AAPL", "SMART", "USD")
    (qualified,) = ib.qualifyContracts(aapl)
    if qualified is None or aapl.conId <= 0 or aapl.primaryExchange != "NASDAQ":
        fail(f"qualifyContracts AAPL: {aapl}")
    ok(f"qualifyContracts AAPL: conId {aapl.conId}")
    zzzz = Stock("ZZZZ", "SMART", "USD")
    if ib.qualifyContracts(zzzz) != [None]:
        fail("qualifyContracts of an unknown symbol did not fail")
    ok("qualifyContracts unknown symbol: error 200, not qualified")
    ticker = ib.reqMktData(aapl, "", False, False)
    wait(ib, "AAPL bid/ask", lambda: ticker.bid > 0 and ticker.ask > 0 and not math.isnan(ticker.bid))
    if not ticker.bid <= ticker.ask:
        fail(f"crossed quote bid {ticker.bid} ask {ticker.ask}")
    ok(f"reqMktData AAPL: bid {ticker.bid} ask {ticker.ask} (marketDataType {ticker.marketDataType})")
    tbt = ib.reqTickByTickData(aapl, "BidAsk")
    wait(ib, "tick-by-tick BidAsk", lambda: len(tbt.tickByTicks) > 0)
    t0 = tbt.tickByTicks[0]
    ok(f"reqTickByTickData BidAsk: bid {t0.bidPrice} ask {t0.askPrice}")
    ib.cancelTickByTickData(aapl, "BidAsk")
    zzzz.conId = 999_999  # ib_async keys tickers by conId
    errors.clear()
    unknown = ib.reqMktData(zzzz, "", False, False)
    wait(ib, "error 200 for unknown symbol", lambda: any(c == 200 for _, c, _ in errors))
    ib.cancelMktData(unknown.contract)
    ok("reqMktData unknown symbol: error 200")

    # 4. market order → fill → commission report joined to the fill.
    ask = ticker.ask
    mkt = MarketOrder("BUY", 100)
    mkt.orderRef = "check-mkt-1"
    trade = ib.placeOrder(aapl, mkt)
    wait(ib, "market order Filled", lambda: trade.orderStatus.status == "Filled")
    wait(ib, "fill", lambda: len(trade.fills) == 1)
    wait(ib, "commission report", lambda: trade.fills[0].commissionReport.commission > 0)
    fill = trade.fills[0]
    ex = fill.execution
    if ex.shares != 100 or ex.side != "BOT" or ex.orderRef != "check-mkt-1":
        fail(f"execution {ex}")
    if fill.commissionReport.execId != ex.execId or fill.commissionReport.currency != "USD":
        fail(f"commission report {fill.commissionReport} not joined to {ex.execId}")
    if trade.orderStatus.remaining != 0 or not near(trade.orderStatus.avgFillPrice, ex.price):
        fail(f"order status {trade.orderStatus}")
    ok(f"market order: Filled 100 @ {ex.price} (ask was {ask}), execId {ex.execId}, "
       f"commission {fill.commissionReport.commission} USD")
    paid = 100 * ex.price + fill.commissionReport.commission

    # 5. positions and cash follow the fill.
    positions = ib.reqPositions()
    pos = [p for p in positions if p.contract.symbol == "AAPL"]
    if len(pos) != 1 or pos[0].position != 100 or not near(pos[0].avgCost, ex.price):
        fail(f"positions after the fill: {positions}")
    ok(f"reqPositions: AAPL 100 @ {pos[0].avgCost}")
    ib.reqAccountSummary()  # refresh
    cash_now = float(
        {v.tag: v.value for v in ib.accountSummary() if v.account == args.account}["TotalCashValue"]
    )
    if not near(cash_now, args.cash - paid, 1e-9):
        fail(f"TotalCashValue {cash_now}, expected {args.cash - paid:.2f}")
    ok(f"cash after the fill: {cash_now:.2f}")

    # 6. far limit rests, then cancel → Cancelled (202 seen).
    far = LimitOrder("BUY", 10, round(ticker.bid * 0.5, 2))
    far.orderRef = "check-lmt-far"
    lt = ib.placeOrder(aapl, far)
    wait(ib, "far limit Submitted", lambda: lt.orderStatus.status == "Submitted")
    open_ids = [t.order.orderId for t in ib.reqOpenOrders()]
    if far.orderId not in open_ids:
        fail(f"reqOpenOrders {open_ids} lacks the resting limit {far.orderId}")
    ok(f"limit resting: Submitted, in reqOpenOrders {open_ids}")
    ib.cancelOrder(far)
    wait(ib, "limit Cancelled", lambda: lt.orderStatus.status == "Cancelled")
    wait(ib, "error 202", lambda: any(r == far.orderId and c == 202 for r, c, _ in errors))
    ok("cancelOrder: PendingCancel → Cancelled, error 202")

    # 7. marketable limit fills at the quote.
    mkl = LimitOrder("SELL", 40, round(ticker.bid - 1.0, 2))
    mkl.orderRef = "check-lmt-cross"
    st = ib.placeOrder(aapl, mkl)
    wait(ib, "marketable limit Filled", lambda: st.orderStatus.status == "Filled")
    wait(ib, "its commission", lambda: st.fills and st.fills[0].commissionReport.commission > 0)
    ok(f"marketable limit: Filled 40 @ {st.fills[0].execution.price}")

    # 8. rejected order: unknown symbol → error 200, trade cancelled.
    bad = ib.placeOrder(Stock("ZZZZ", "SMART", "USD"), MarketOrder("BUY", 1))
    wait(ib, "reject of unknown symbol", lambda: any(r == bad.order.orderId and c == 200 for r, c, _ in errors))
    wait(ib, "rejected trade done", lambda: bad.isDone())
    ok(f"order for unknown symbol rejected: error 200, status {bad.orderStatus.status}")

    # 9. executions (ib_async returns fresh Fill objects for executions it
    #    already holds, so commissions are checked on a second client below).
    fills = ib.reqExecutions()
    by_id = {f.execution.execId: f for f in fills}
    if ex.execId not in by_id or len(fills) != 2:
        fail(f"reqExecutions returned {list(by_id)}, expected 2 incl. {ex.execId}")
    ok(f"reqExecutions: {len(fills)} fills incl. {ex.execId}")

    # 10. global cancel of a resting limit.
    g = ib.placeOrder(aapl, LimitOrder("BUY", 5, round(ticker.bid * 0.5, 2)))
    wait(ib, "second limit Submitted", lambda: g.orderStatus.status == "Submitted")
    ib.reqGlobalCancel()
    wait(ib, "global cancel", lambda: g.orderStatus.status == "Cancelled")
    if ib.reqAllOpenOrders():
        fail("orders still open after reqGlobalCancel")
    ok("reqGlobalCancel: Cancelled, no open orders")

    # 11. liveness probe.
    t = ib.reqCurrentTime()
    ok(f"reqCurrentTime: {t.isoformat()}")

    # 12. a second client id: its start-up reqExecutions replays the fills
    #     with their commission reports; positions are account-wide.
    ib2 = IB()
    try:
        ib2.connect(args.host, args.port, clientId=8, timeout=10, raiseSyncErrors=True)
    except Exception as e:  # noqa: BLE001
        fail(f"second client connect: {e!r}")
    replay = {f.execution.execId: f for f in ib2.fills()}
    if set(replay) != set(by_id):
        fail(f"second client fills {sorted(replay)}, expected {sorted(by_id)}")
    if any(f.commissionReport.commission <= 0 or f.commissionReport.execId != i for i, f in replay.items()):
        fail(f"second client: commissions not joined: {list(replay.values())}")
    pos2 = {p.contract.symbol: p.position for p in ib2.positions()}
    if pos2 != {"AAPL": 60}:
        fail(f"second client positions {pos2}, expected AAPL 60")
    ok("second client: executions replayed with commissions, position AAPL 60")
    ib2.disconnect()

    # 13. a third connection reusing client id 7 is refused (326).
    ib3 = IB()
    try:
        ib3.connect(args.host, args.port, clientId=7, timeout=5)
        fail("a second connection with client id 7 was accepted")
    except Exception:  # noqa: BLE001 - the refusal is the expected outcome
        pass
    ib3.disconnect()
    ok("duplicate client id 7 refused")
    CAUGHT.records = [r for r in CAUGHT.records if "already in use" not in r]

    ib.disconnect()
    ib.sleep(0.1)
    if CAUGHT.records:
        fail(f"ib_async decode errors: {CAUGHT.records}")
    print("ok   all checks passed; ib_async logged no decode error", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
