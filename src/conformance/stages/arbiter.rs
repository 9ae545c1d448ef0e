//! Vector adapter for stage `arbiter` (SPEC §11).
//!
//! The case's `alphas` map names the horizons: they are parsed and sorted by
//! minutes (stable, so equal-minute labels keep input order) into dense ids.

use serde_json::{json, Map, Value};

use crate::conformance::json::{
    as_f64, as_opt_f64, f64_field, num, object_field, opt_f64_field, opt_num, opt_object_field,
    usize_field,
};
use crate::conformance::CaseError;
use crate::horizon::parse_minutes;
use crate::pipeline::arbitrate::{Arbiter, ArbiterInput, ArbiterParams, HorizonScore};
use crate::pipeline::cost::CostParams;
use crate::types::{Bps, Side};

fn minutes_of(label: &str, key: &str) -> Result<u32, CaseError> {
    parse_minutes(label)
        .map_err(|_| CaseError::BadInput(format!("`{key}`: {label:?} is not a horizon")))
}

/// Run one `arbiter` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    let mut horizons = Vec::new();
    for (label, alpha) in object_field(input, "alphas")? {
        // null: the horizon has no alpha this decision (absent, not dropped)
        let alpha = as_opt_f64(alpha).map_err(|e| e.context("alphas"))?;
        horizons.push((label.as_str(), minutes_of(label, "alphas")?, alpha));
    }
    horizons.sort_by_key(|h| h.1);
    let alphas: Vec<Option<f64>> = horizons.iter().map(|h| h.2).collect();
    let minutes: Vec<u32> = horizons.iter().map(|h| h.1).collect();
    let mut preference = vec![1.0; horizons.len()];
    if let Some(prefs) = opt_object_field(input, "preference")? {
        for (label, f) in prefs {
            let f = as_f64(f).map_err(|e| e.context("preference"))?;
            for (slot, h) in preference.iter_mut().zip(&horizons) {
                if h.0 == label {
                    *slot = f;
                }
            }
        }
    }
    let bar_minutes = u32::try_from(usize_field(input, "bar_minutes")?)
        .map_err(|_| CaseError::BadInput("`bar_minutes` is too large".into()))?;
    let arbiter = Arbiter::new(
        ArbiterParams {
            entry_threshold_bps: Bps(f64_field(input, "entry_threshold_bps")?),
            reserve_bps: f64_field(input, "reserve_bps")?,
        },
        CostParams {
            k1: f64_field(input, "k1")?,
            k2: f64_field(input, "k2")?,
            k3: f64_field(input, "k3")?,
        },
    );
    let arb_input = ArbiterInput {
        alphas: &alphas,
        horizon_minutes: &minutes,
        sigma_bar: f64_field(input, "sigma_bar")?,
        bar_minutes,
        spread_bps: Bps(f64_field(input, "spread_bps")?),
        q_shares: f64_field(input, "q_shares")?,
        adv_shares: opt_f64_field(input, "adv_shares")?,
        preference: &preference,
    };
    let mut detail: Vec<Option<HorizonScore>> = vec![None; horizons.len()];
    let out = arbiter.decide(&arb_input, &mut detail);

    let label = |id: crate::types::HorizonId| horizons.get(id.index()).map(|h| h.0);
    let mut dropped = Vec::new();
    let mut by_label = Map::new();
    for (h, score) in horizons.iter().zip(&detail) {
        let Some(s) = score else { continue };
        if s.dropped {
            dropped.push(h.0);
        }
        by_label.insert(
            h.0.to_owned(),
            json!({
                "h_minutes": s.h_minutes,
                "sigma_h": num(s.sigma_h),
                "total_cost": num(s.cost.total.0),
                "net_bps": num(s.net_bps),
                "score": num(s.score),
            }),
        );
    }
    Ok(json!({
        "decision": out.decision.as_str(),
        "reason": out.reason.code(),
        "selected_horizon": out.selected.and_then(label),
        "side": out.side.map_or(0, Side::sign),
        "best_horizon": out.best.and_then(label),
        "best_score": opt_num(out.best_score),
        "threshold": num(out.threshold.0),
        "dropped": dropped,
        "horizons": by_label,
    }))
}
