//! TWS text-protocol framing for the fake gateway: the `API\0` handshake
//! prefix, 4-byte big-endian length-prefixed frames, NUL-terminated ASCII
//! fields, and the builders for every frame the fake sends (server 178).
//!
//! Cold code, run on the fake's connection threads: allocates freely.
//! Written independently of our client's codec (`src/broker/ibkr/`): the
//! two must meet on the wire, and ib_async checks this side.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::io::{self, Read};

/// Largest payload the official client accepts (0xFFFFFF); the fake refuses
/// larger frames from clients as a protocol error.
pub const MAX_FRAME: usize = 0x00FF_FFFF;

/// `Double.MAX_VALUE`, TWS's "unset double" on the wire.
pub const UNSET_DOUBLE: &str = "1.7976931348623157E308";

/// `Integer.MAX_VALUE`, TWS's "unset int" on the wire.
pub const UNSET_INT: &str = "2147483647";

/// Reads exactly `buf.len()` bytes; `Ok(false)` on a clean EOF before the
/// first byte, an error on EOF in the middle.
pub fn read_exact_or_eof(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed the socket in the middle of a frame",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Reads one length-prefixed frame payload; `Ok(None)` on clean EOF.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    if !read_exact_or_eof(r, &mut len)? {
        return Ok(None);
    }
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {n} exceeds the protocol maximum {MAX_FRAME}"),
        ));
    }
    let mut payload = vec![0u8; n];
    if n > 0 && !read_exact_or_eof(r, &mut payload)? {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "peer closed the socket after a frame length",
        ));
    }
    Ok(Some(payload))
}

/// Splits a text payload into fields: every field ends with NUL, so the
/// trailing empty element is dropped. A payload that does not end in NUL is
/// reported as `None` (malformed).
pub fn split_fields(payload: &[u8]) -> Option<Vec<String>> {
    let text = String::from_utf8_lossy(payload);
    if !text.ends_with('\0') {
        return None;
    }
    let mut fields: Vec<String> = text.split('\0').map(str::to_owned).collect();
    fields.pop();
    Some(fields)
}

/// Frames a list of fields: length prefix, then each field followed by NUL.
pub fn frame(fields: &[String]) -> Vec<u8> {
    let body_len: usize = fields.iter().map(|f| f.len() + 1).sum();
    let mut out = Vec::with_capacity(4 + body_len);
    out.extend_from_slice(&(body_len as u32).to_be_bytes());
    for f in fields {
        out.extend_from_slice(f.as_bytes());
        out.push(0);
    }
    out
}

/// Parses the handshake version payload `v<min>..<max>[ options]`.
pub fn parse_version_range(payload: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(payload).ok()?;
    let range = text.strip_prefix('v')?.split(' ').next()?;
    let (lo, hi) = range.split_once("..")?;
    let lo: u32 = lo.parse().ok()?;
    let hi: u32 = hi.parse().ok()?;
    (lo <= hi).then_some((lo, hi))
}

/// Formats a price the way TWS does for our purposes: shortest round-trip
/// decimal (Rust's `Display` for f64), which every client parses.
pub fn px(v: f64) -> String {
    let r = (v * 1e6).round() / 1e6;
    format!("{r}")
}

/// Formats a quantity (decimal string; whole shares print without a dot).
pub fn qty(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A contract as the fake knows it: US stocks on SMART only.
#[derive(Debug, Clone, PartialEq)]
pub struct StkContract {
    /// IB contract id (the fake assigns 1000 + index in the symbol list).
    pub con_id: i64,
    /// Ticker symbol.
    pub symbol: String,
}

impl StkContract {
    /// The 11-field contract block of openOrder/execDetails/position:
    /// conId, symbol, secType, lastTrade, strike, right, multiplier,
    /// exchange, currency, localSymbol, tradingClass.
    fn block11(&self, exchange: &str) -> Vec<String> {
        vec![
            self.con_id.to_string(),
            self.symbol.clone(),
            "STK".into(),
            String::new(),
            "0".into(),
            String::new(),
            String::new(),
            exchange.into(),
            "USD".into(),
            self.symbol.clone(),
            "NMS".into(),
        ]
    }
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// Every frame the fake sends, as field lists (message id first). Layouts
/// follow ib_async 2.1.0's `decoder.py` at server version 178.
pub mod out {
    use super::*;

    /// error(4): v=2, id, code, message, advancedOrderRejectJson (≥166).
    pub fn error(id: i64, code: i32, msg: &str) -> Vec<String> {
        vec![s(4), s(2), s(id), s(code), msg.into(), String::new()]
    }

    /// managedAccounts(15): v=1, comma-separated accounts.
    pub fn managed_accounts(account: &str) -> Vec<String> {
        vec![s(15), s(1), account.into()]
    }

    /// nextValidId(9): v=1, orderId.
    pub fn next_valid_id(id: i64) -> Vec<String> {
        vec![s(9), s(1), s(id)]
    }

    /// currentTime(49): v=1, epoch seconds.
    pub fn current_time(secs: i64) -> Vec<String> {
        vec![s(49), s(1), s(secs)]
    }

    /// tickReqParams(81): reqId, minTick, bboExchange, snapshotPermissions.
    pub fn tick_req_params(req_id: i64) -> Vec<String> {
        vec![s(81), s(req_id), s("0.01"), s("9c0001"), s(3)]
    }

    /// marketDataType(58): v=1, reqId, type (1 = live).
    pub fn market_data_type(req_id: i64, kind: i32) -> Vec<String> {
        vec![s(58), s(1), s(req_id), s(kind)]
    }

    /// tickPrice(1): v=6, reqId, tickType, price, size, attrMask.
    pub fn tick_price(req_id: i64, tick_type: i32, price: f64, size: f64) -> Vec<String> {
        vec![
            s(1),
            s(6),
            s(req_id),
            s(tick_type),
            px(price),
            qty(size),
            s(0),
        ]
    }

    /// tickSize(2): v=6, reqId, tickType, size.
    pub fn tick_size(req_id: i64, tick_type: i32, size: f64) -> Vec<String> {
        vec![s(2), s(6), s(req_id), s(tick_type), qty(size)]
    }

    /// tickByTick(99) BidAsk (type 3): reqId, 3, time, bid, ask, bidSize,
    /// askSize, mask.
    pub fn tick_by_tick_bid_ask(
        req_id: i64,
        time: i64,
        bid: f64,
        ask: f64,
        bid_size: f64,
        ask_size: f64,
    ) -> Vec<String> {
        vec![
            s(99),
            s(req_id),
            s(3),
            s(time),
            px(bid),
            px(ask),
            qty(bid_size),
            qty(ask_size),
            s(0),
        ]
    }

    /// orderStatus(3) (no version at ≥131): orderId, status, filled,
    /// remaining, avgFillPrice, permId, parentId, lastFillPrice, clientId,
    /// whyHeld, mktCapPrice.
    #[allow(clippy::too_many_arguments)]
    pub fn order_status(
        order_id: i64,
        status: &str,
        filled: f64,
        remaining: f64,
        avg_fill: f64,
        perm_id: i64,
        last_fill: f64,
        client_id: i32,
    ) -> Vec<String> {
        vec![
            s(3),
            s(order_id),
            status.into(),
            qty(filled),
            qty(remaining),
            px(avg_fill),
            s(perm_id),
            s(0),
            px(last_fill),
            s(client_id),
            String::new(),
            s(0),
        ]
    }

    /// The order facts openOrder needs.
    #[derive(Debug, Clone)]
    pub struct OpenOrderView<'a> {
        /// API order id.
        pub order_id: i64,
        /// The contract.
        pub contract: &'a StkContract,
        /// `BUY` / `SELL`.
        pub action: &'a str,
        /// Total quantity.
        pub total_qty: f64,
        /// `MKT` / `LMT`.
        pub order_type: &'a str,
        /// Limit price (None for MKT).
        pub lmt_price: Option<f64>,
        /// Time in force.
        pub tif: &'a str,
        /// Account.
        pub account: &'a str,
        /// The client's reference (our client order id).
        pub order_ref: &'a str,
        /// Owning API client id.
        pub client_id: i32,
        /// Permanent id.
        pub perm_id: i64,
        /// Order state text (`Submitted`, `Filled`, ...).
        pub status: &'a str,
        /// Commission once filled.
        pub commission: Option<f64>,
    }

    /// openOrder(5) at server 178 for a plain STK order: 135 fields with the
    /// order status at index 93, exactly the sequence ib_async's
    /// `Decoder.openOrder` unpacks at 178 (no faProfile since 177, the five
    /// PEG fields since 170). Wire quirks of real TWS kept: right and
    /// openClose `?`, deltaNeutralOrderType `None` (so its eight sub-fields
    /// are present), ocaType 3, exemptCode −1, clearingIntent `IB`, margin
    /// fields Double.MAX.
    pub fn open_order(o: &OpenOrderView<'_>) -> Vec<String> {
        let c = o.contract;
        let mut f: Vec<String> = Vec::with_capacity(136);
        f.push(s(5)); // 0 msg id
        f.push(s(o.order_id)); // 1
        f.extend([
            s(c.con_id),
            c.symbol.clone(),
            s("STK"),
            String::new(),
            s("0"),
            s("?"),
            String::new(),
            s("SMART"),
            s("USD"),
            c.symbol.clone(),
            s("NMS"),
        ]); // 2..=12 contract
        f.extend([
            o.action.to_owned(),                           // 13
            qty(o.total_qty),                              // 14
            o.order_type.to_owned(),                       // 15
            o.lmt_price.map(px).unwrap_or_else(|| s("0")), // 16 lmtPrice
            s("0"),                                        // 17 auxPrice
            o.tif.to_owned(),                              // 18
            String::new(),                                 // 19 ocaGroup
            o.account.to_owned(),                          // 20
            s("?"),                                        // 21 openClose
            s(0),                                          // 22 origin
            o.order_ref.to_owned(),                        // 23
            s(o.client_id),                                // 24
            s(o.perm_id),                                  // 25
            s(0),                                          // 26 outsideRth
            s(0),                                          // 27 hidden
            s("0"),                                        // 28 discretionaryAmt
            String::new(),                                 // 29 goodAfterTime
            String::new(),                                 // 30 sharesAllocation
            String::new(),                                 // 31 faGroup
            String::new(),                                 // 32 faMethod
            String::new(),                                 // 33 faPercentage
        ]);
        f.extend([
            String::new(),                                               // 34 modelCode
            String::new(),                                               // 35 goodTillDate
            String::new(),                                               // 36 rule80A
            UNSET_DOUBLE.into(),                                         // 37 percentOffset
            String::new(),                                               // 38 settlingFirm
            s(0),                                                        // 39 shortSaleSlot
            String::new(),                                               // 40 designatedLocation
            s(-1),                                                       // 41 exemptCode
            s(0),                                                        // 42 auctionStrategy
            UNSET_DOUBLE.into(),                                         // 43 startingPrice
            UNSET_DOUBLE.into(),                                         // 44 stockRefPrice
            UNSET_DOUBLE.into(),                                         // 45 delta
            UNSET_DOUBLE.into(),                                         // 46 stockRangeLower
            UNSET_DOUBLE.into(),                                         // 47 stockRangeUpper
            s(0),                                                        // 48 displaySize
            s(0),                                                        // 49 blockOrder
            s(0),                                                        // 50 sweepToFill
            s(0),                                                        // 51 allOrNone
            UNSET_INT.into(),                                            // 52 minQty
            s(3),                                                        // 53 ocaType
            s(0),                                                        // 54 eTradeOnly
            s(0),                                                        // 55 firmQuoteOnly
            UNSET_DOUBLE.into(),                                         // 56 nbboPriceCap
            s(0),                                                        // 57 parentId
            s(0),                                                        // 58 triggerMethod
            UNSET_DOUBLE.into(),                                         // 59 volatility
            s(0),                                                        // 60 volatilityType
            s("None"),                                                   // 61 deltaNeutralOrderType
            UNSET_DOUBLE.into(),                                         // 62 deltaNeutralAuxPrice
            s(0),                                                        // 63 deltaNeutralConId
            String::new(),       // 64 deltaNeutralSettlingFirm
            String::new(),       // 65 deltaNeutralClearingAccount
            String::new(),       // 66 deltaNeutralClearingIntent
            String::new(),       // 67 deltaNeutralOpenClose
            s(0),                // 68 deltaNeutralShortSale
            s(0),                // 69 deltaNeutralShortSaleSlot
            String::new(),       // 70 deltaNeutralDesignatedLocation
            s(0),                // 71 continuousUpdate
            s(0),                // 72 referencePriceType
            UNSET_DOUBLE.into(), // 73 trailStopPrice
            UNSET_DOUBLE.into(), // 74 trailingPercent
            UNSET_DOUBLE.into(), // 75 basisPoints
            UNSET_INT.into(),    // 76 basisPointsType
            String::new(),       // 77 comboLegsDescrip
            s(0),                // 78 comboLegs count
            s(0),                // 79 orderComboLegs count
            s(0),                // 80 smartComboRoutingParams count
            UNSET_INT.into(),    // 81 scaleInitLevelSize
            UNSET_INT.into(),    // 82 scaleSubsLevelSize
            UNSET_DOUBLE.into(), // 83 scalePriceIncrement
            String::new(),       // 84 hedgeType
            s(0),                // 85 optOutSmartRouting
            String::new(),       // 86 clearingAccount
            s("IB"),             // 87 clearingIntent
            s(0),                // 88 notHeld
            s(0),                // 89 deltaNeutralContract present
            String::new(),       // 90 algoStrategy
            s(0),                // 91 solicited
            s(0),                // 92 whatIf
            o.status.to_owned(), // 93 status
            UNSET_DOUBLE.into(), // 94 initMarginBefore
            UNSET_DOUBLE.into(), // 95 maintMarginBefore
            UNSET_DOUBLE.into(), // 96 equityWithLoanBefore
            UNSET_DOUBLE.into(), // 97 initMarginChange
            UNSET_DOUBLE.into(), // 98 maintMarginChange
            UNSET_DOUBLE.into(), // 99 equityWithLoanChange
            UNSET_DOUBLE.into(), // 100 initMarginAfter
            UNSET_DOUBLE.into(), // 101 maintMarginAfter
            UNSET_DOUBLE.into(), // 102 equityWithLoanAfter
            o.commission.map(px).unwrap_or_else(|| UNSET_DOUBLE.into()), // 103 commission
            UNSET_DOUBLE.into(), // 104 minCommission
            UNSET_DOUBLE.into(), // 105 maxCommission
            if o.commission.is_some() {
                s("USD")
            } else {
                String::new()
            }, // 106
            String::new(),       // 107 warningText
            s(0),                // 108 randomizeSize
            s(0),                // 109 randomizePrice
            s(0),                // 110 conditions count
            String::new(),       // 111 adjustedOrderType (real TWS: None)
            UNSET_DOUBLE.into(), // 112 triggerPrice
            UNSET_DOUBLE.into(), // 113 trailStopPrice
            UNSET_DOUBLE.into(), // 114 lmtPriceOffset
            UNSET_DOUBLE.into(), // 115 adjustedStopPrice
            UNSET_DOUBLE.into(), // 116 adjustedStopLimitPrice
            UNSET_DOUBLE.into(), // 117 adjustedTrailingAmount
            s(0),                // 118 adjustableTrailingUnit
            String::new(),       // 119 softDollarTier name
            String::new(),       // 120 softDollarTier value
            String::new(),       // 121 softDollarTier displayName
            UNSET_DOUBLE.into(), // 122 cashQty
            s(0),                // 123 dontUseAutoPriceForHedge
            s(0),                // 124 isOmsContainer
            s(0),                // 125 discretionaryUpToLimitPrice
            s(0),                // 126 usePriceMgmtAlgo
            UNSET_INT.into(),    // 127 duration
            UNSET_INT.into(),    // 128 postToAts
            s(0),                // 129 autoCancelParent
            UNSET_INT.into(),    // 130 minTradeQty
            UNSET_INT.into(),    // 131 minCompeteSize
            UNSET_DOUBLE.into(), // 132 competeAgainstBestOffset
            UNSET_DOUBLE.into(), // 133 midOffsetAtWhole
            UNSET_DOUBLE.into(), // 134 midOffsetAtHalf
        ]);
        f
    }

    /// openOrderEnd(53): v=1.
    pub fn open_order_end() -> Vec<String> {
        vec![s(53), s(1)]
    }

    /// The execution facts execDetails needs.
    #[derive(Debug, Clone)]
    pub struct ExecView<'a> {
        /// Request id (−1 for live fills).
        pub req_id: i64,
        /// API order id.
        pub order_id: i64,
        /// Contract.
        pub contract: &'a StkContract,
        /// Execution id (`…​.01` suffix; corrections bump it).
        pub exec_id: &'a str,
        /// `YYYYMMDD HH:MM:SS UTC`.
        pub time: &'a str,
        /// Account.
        pub account: &'a str,
        /// `BOT` / `SLD`.
        pub side: &'a str,
        /// Shares in this execution.
        pub shares: f64,
        /// Price of this execution.
        pub price: f64,
        /// Permanent order id.
        pub perm_id: i64,
        /// Owning API client id.
        pub client_id: i32,
        /// Cumulative quantity of the order.
        pub cum_qty: f64,
        /// Average price of the order so far.
        pub avg_price: f64,
        /// The order's orderRef.
        pub order_ref: &'a str,
    }

    /// execDetails(11) at 178 (no version since 136): reqId, orderId,
    /// contract (11), execId, time, acctNumber, exchange, side, shares,
    /// price, permId, clientId, liquidation, cumQty, avgPrice, orderRef,
    /// evRule, evMultiplier, modelCode, lastLiquidity, pendingPriceRevision
    /// — 32 fields.
    pub fn exec_details(e: &ExecView<'_>) -> Vec<String> {
        let mut f = vec![s(11), s(e.req_id), s(e.order_id)];
        f.extend(e.contract.block11("ISLAND"));
        f.extend([
            e.exec_id.to_owned(),
            e.time.to_owned(),
            e.account.to_owned(),
            s("ISLAND"),
            e.side.to_owned(),
            qty(e.shares),
            px(e.price),
            s(e.perm_id),
            s(e.client_id),
            s(0),
            qty(e.cum_qty),
            px(e.avg_price),
            e.order_ref.to_owned(),
            String::new(),
            String::new(),
            String::new(),
            s(1),
            s(0),
        ]);
        f
    }

    /// execDetailsEnd(55): v=1, reqId.
    pub fn exec_details_end(req_id: i64) -> Vec<String> {
        vec![s(55), s(1), s(req_id)]
    }

    /// commissionReport(59): v=1, execId, commission, currency, realizedPNL
    /// (unset), yield (unset), yieldRedemptionDate (empty).
    pub fn commission_report(exec_id: &str, commission: f64) -> Vec<String> {
        vec![
            s(59),
            s(1),
            exec_id.into(),
            px(commission),
            s("USD"),
            UNSET_DOUBLE.into(),
            UNSET_DOUBLE.into(),
            String::new(),
        ]
    }

    /// position(61): v=3, account, contract (11), position, avgCost.
    pub fn position(account: &str, c: &StkContract, pos: f64, avg_cost: f64) -> Vec<String> {
        let mut f = vec![s(61), s(3), account.into()];
        f.extend(c.block11("NASDAQ"));
        f.extend([qty(pos), px(avg_cost)]);
        f
    }

    /// positionEnd(62): v=1.
    pub fn position_end() -> Vec<String> {
        vec![s(62), s(1)]
    }

    /// accountSummary(63): v=1, reqId, account, tag, value, currency.
    pub fn account_summary(req_id: i64, account: &str, tag: &str, value: &str) -> Vec<String> {
        vec![
            s(63),
            s(1),
            s(req_id),
            account.into(),
            tag.into(),
            value.into(),
            s("USD"),
        ]
    }

    /// accountSummaryEnd(64): v=1, reqId.
    pub fn account_summary_end(req_id: i64) -> Vec<String> {
        vec![s(64), s(1), s(req_id)]
    }

    /// updateAccountValue(6): v=2, key, value, currency, account.
    pub fn update_account_value(key: &str, value: &str, account: &str) -> Vec<String> {
        vec![
            s(6),
            s(2),
            key.into(),
            value.into(),
            s("USD"),
            account.into(),
        ]
    }

    /// updatePortfolio(7): v=8, contract (conId, symbol, secType, lastTrade,
    /// strike, right, multiplier, primaryExchange, currency, localSymbol,
    /// tradingClass), position, marketPrice, marketValue, averageCost,
    /// unrealizedPNL, realizedPNL, accountName — 20 fields.
    pub fn update_portfolio(
        c: &StkContract,
        pos: f64,
        mkt_price: f64,
        avg_cost: f64,
        account: &str,
    ) -> Vec<String> {
        let mut f = vec![s(7), s(8)];
        f.extend(c.block11("NASDAQ"));
        f.extend([
            qty(pos),
            px(mkt_price),
            px(pos * mkt_price),
            px(avg_cost),
            px(pos * (mkt_price - avg_cost)),
            s("0"),
            account.into(),
        ]);
        f
    }

    /// updateAccountTime(8): v=1, `HH:MM`.
    pub fn update_account_time(hhmm: &str) -> Vec<String> {
        vec![s(8), s(1), hhmm.into()]
    }

    /// accountDownloadEnd(54): v=1, account.
    pub fn account_download_end(account: &str) -> Vec<String> {
        vec![s(54), s(1), account.into()]
    }

    /// accountUpdateMulti(73): v=1, reqId, account, modelCode, key, value,
    /// currency.
    pub fn account_update_multi(req_id: i64, account: &str, key: &str, value: &str) -> Vec<String> {
        vec![
            s(73),
            s(1),
            s(req_id),
            account.into(),
            String::new(),
            key.into(),
            value.into(),
            s("USD"),
        ]
    }

    /// accountUpdateMultiEnd(74): v=1, reqId.
    pub fn account_update_multi_end(req_id: i64) -> Vec<String> {
        vec![s(74), s(1), s(req_id)]
    }

    /// contractDetails(10) at server ≥164 (no version field), as ib_async's
    /// `Decoder.contractDetails` reads it: reqId, symbol, secType,
    /// lastTimes, strike, right, exchange, currency, localSymbol,
    /// marketName, tradingClass, conId, minTick, multiplier, orderTypes,
    /// validExchanges, priceMagnifier, underConId, longName,
    /// primaryExchange, contractMonth, industry, category, subcategory,
    /// timeZoneId, tradingHours, liquidHours, evRule, evMultiplier,
    /// secIdList count (0), aggGroup, underSymbol, underSecType,
    /// marketRuleIds, realExpirationDate, stockType, minSize,
    /// sizeIncrement, suggestedSizeIncrement — 40 fields.
    pub fn contract_details(req_id: i64, c: &StkContract) -> Vec<String> {
        vec![
            s(10),
            s(req_id),
            c.symbol.clone(),
            s("STK"),
            String::new(),
            s("0"),
            String::new(),
            s("SMART"),
            s("USD"),
            c.symbol.clone(),
            s("NMS"),
            s("NMS"),
            s(c.con_id),
            s("0.01"),
            String::new(),
            s("LMT,MKT"),
            s("SMART,ISLAND"),
            s(1),
            s(0),
            format!("{} (fake)", c.symbol),
            s("NASDAQ"),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            s("US/Eastern"),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            s(0),
            s(1),
            String::new(),
            String::new(),
            s("26"),
            String::new(),
            s("COMMON"),
            s("1"),
            s("1"),
            s("100"),
        ]
    }

    /// contractDetailsEnd(52): v=1, reqId.
    pub fn contract_details_end(req_id: i64) -> Vec<String> {
        vec![s(52), s(1), s(req_id)]
    }

    /// completedOrdersEnd(102): no payload.
    pub fn completed_orders_end() -> Vec<String> {
        vec![s(102)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aapl() -> StkContract {
        StkContract {
            con_id: 1000,
            symbol: "AAPL".into(),
        }
    }

    #[test]
    fn frames_round_trip_through_the_reader() {
        let fields = vec!["9".to_string(), "1".into(), "42".into()];
        let bytes = frame(&fields);
        assert_eq!(&bytes[..4], &[0, 0, 0, 7]);
        let mut r = &bytes[..];
        let payload = read_frame(&mut r).unwrap().unwrap();
        assert_eq!(split_fields(&payload).unwrap(), fields);
        assert!(read_frame(&mut r).unwrap().is_none());
    }

    #[test]
    fn a_payload_without_trailing_nul_is_malformed() {
        assert!(split_fields(b"9\x001").is_none());
        assert_eq!(split_fields(b"").map(|v| v.len()), None);
    }

    #[test]
    fn version_ranges_parse_with_and_without_options() {
        assert_eq!(parse_version_range(b"v157..178"), Some((157, 178)));
        assert_eq!(parse_version_range(b"v100..225 +PACEAPI"), Some((100, 225)));
        assert_eq!(parse_version_range(b"157..178"), None);
        assert_eq!(parse_version_range(b"v180..178"), None);
    }

    #[test]
    fn open_order_has_135_fields_with_status_at_93() {
        let c = aapl();
        let f = out::open_order(&out::OpenOrderView {
            order_id: 7,
            contract: &c,
            action: "BUY",
            total_qty: 100.0,
            order_type: "LMT",
            lmt_price: Some(101.5),
            tif: "DAY",
            account: "DU0000001",
            order_ref: "ref-1",
            client_id: 3,
            perm_id: 9001,
            status: "Submitted",
            commission: None,
        });
        assert_eq!(f.len(), 135);
        assert_eq!(f[93], "Submitted");
        assert_eq!(f[23], "ref-1");
        assert_eq!(f[16], "101.5");
    }

    #[test]
    fn exec_details_has_32_fields() {
        let c = aapl();
        let f = out::exec_details(&out::ExecView {
            req_id: -1,
            order_id: 7,
            contract: &c,
            exec_id: "0000e0d5.6553b0a1.01.01",
            time: "20260101 10:00:00 UTC",
            account: "DU0000001",
            side: "BOT",
            shares: 100.0,
            price: 101.25,
            perm_id: 9001,
            client_id: 3,
            cum_qty: 100.0,
            avg_price: 101.25,
            order_ref: "r",
        });
        assert_eq!(f.len(), 32);
        assert_eq!(f[14], "0000e0d5.6553b0a1.01.01");
    }

    #[test]
    fn contract_details_has_40_fields() {
        let f = out::contract_details(3, &aapl());
        assert_eq!(f.len(), 40);
        assert_eq!((f[2].as_str(), f[12].as_str()), ("AAPL", "1000"));
    }

    #[test]
    fn numbers_print_plainly() {
        assert_eq!(px(101.0), "101");
        assert_eq!(px(0.1 + 0.2), "0.3");
        assert_eq!(qty(100.0), "100");
        assert_eq!(qty(0.5), "0.5");
    }
}
