//! The feature catalogue (SPEC §3): every feature name a model's
//! `feature_list` may use, parsed once at start-up into a [`Feature`].
//!
//! Cold path for parsing (strings); the parsed enum is `Copy` and used on the
//! engine thread without allocation.

/// One feature of SPEC §3. Periods count bars ("d" in the names means one
/// bar of the model's interval).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    /// `ret_Nd`: `C[t]/C[t-N] - 1`.
    Ret(usize),
    /// `vol_Nd`: sample std (ddof 1) of the last N one-bar returns.
    Vol(usize),
    /// `rsi_P`: relative strength index over the last P close changes.
    Rsi(usize),
    /// `ma_ratio_N`: `C[t]/SMA_N(C) - 1`.
    MaRatio(usize),
    /// `bb_position`: where the close sits in the 20-bar ±2σ band.
    BbPosition,
    /// `bb_width`: `4·s/m` of the 20-bar band.
    BbWidth,
    /// `macd`: `EMA12(C) - EMA26(C)`.
    Macd,
    /// `macd_signal`: `EMA9` of the MACD series.
    MacdSignal,
    /// `macd_hist`: `macd - macd_signal`.
    MacdHist,
    /// `mom_Nd`: `C[t] - C[t-N]`.
    Mom(usize),
    /// `atr_14`: mean true range over 14 bars.
    Atr14,
    /// `high_low_range`: `(H[t]-L[t])/C[t]`.
    HighLowRange,
    /// `volume_ma_ratio`: `V[t]/SMA20(V)`.
    VolumeMaRatio,
    /// `volume_change`: `V[t]/V[t-1] - 1`.
    VolumeChange,
    /// `close_to_high_52w`: `C[t]` over the highest of the last min(252, n) closes.
    CloseToHigh52w,
    /// `close_to_low_52w`: `C[t]` over the lowest of the last min(252, n) closes.
    CloseToLow52w,
    /// A name outside the catalogue: its value is always NaN.
    Unknown,
}

/// Bars in the 52-week window of `close_to_high_52w` / `close_to_low_52w`.
pub const WINDOW_52W: usize = 252;
/// Bars of the Bollinger band, the volume SMA and the minimum 52-week history.
pub const WINDOW_20: usize = 20;
/// Bars of the average true range.
pub const ATR_PERIOD: usize = 14;
/// MACD EMA spans: fast, slow, signal.
pub const MACD_SPANS: (u32, u32, u32) = (12, 26, 9);

/// Every known name and its feature, in SPEC §3 order.
pub const CATALOGUE: &[(&str, Feature)] = &[
    ("ret_1d", Feature::Ret(1)),
    ("ret_5d", Feature::Ret(5)),
    ("ret_10d", Feature::Ret(10)),
    ("ret_20d", Feature::Ret(20)),
    ("ret_60d", Feature::Ret(60)),
    ("vol_5d", Feature::Vol(5)),
    ("vol_10d", Feature::Vol(10)),
    ("vol_20d", Feature::Vol(20)),
    ("vol_60d", Feature::Vol(60)),
    ("rsi_14", Feature::Rsi(14)),
    ("rsi_7", Feature::Rsi(7)),
    ("rsi_21", Feature::Rsi(21)),
    ("ma_ratio_10", Feature::MaRatio(10)),
    ("ma_ratio_20", Feature::MaRatio(20)),
    ("ma_ratio_50", Feature::MaRatio(50)),
    ("bb_position", Feature::BbPosition),
    ("bb_width", Feature::BbWidth),
    ("macd", Feature::Macd),
    ("macd_signal", Feature::MacdSignal),
    ("macd_hist", Feature::MacdHist),
    ("mom_5d", Feature::Mom(5)),
    ("mom_10d", Feature::Mom(10)),
    ("mom_20d", Feature::Mom(20)),
    ("atr_14", Feature::Atr14),
    ("high_low_range", Feature::HighLowRange),
    ("volume_ma_ratio", Feature::VolumeMaRatio),
    ("volume_change", Feature::VolumeChange),
    ("close_to_high_52w", Feature::CloseToHigh52w),
    ("close_to_low_52w", Feature::CloseToLow52w),
];

impl Feature {
    /// The feature of an exact (case-sensitive) catalogue name; any other
    /// name is [`Feature::Unknown`].
    pub fn parse(name: &str) -> Feature {
        CATALOGUE
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Feature::Unknown, |&(_, f)| f)
    }

    /// Parse a model's whole `feature_list`, keeping its order.
    pub fn parse_list<S: AsRef<str>>(names: &[S]) -> Vec<Feature> {
        names.iter().map(|n| Feature::parse(n.as_ref())).collect()
    }

    /// The catalogue name, `None` for [`Feature::Unknown`].
    pub fn name(self) -> Option<&'static str> {
        CATALOGUE.iter().find(|(_, f)| *f == self).map(|&(n, _)| n)
    }

    /// Bars needed before the value can be finite; `None` for
    /// [`Feature::Unknown`], which never is.
    pub fn rows_needed(self) -> Option<usize> {
        Some(match self {
            Feature::Ret(n) | Feature::Vol(n) | Feature::Mom(n) => n.saturating_add(1),
            Feature::Rsi(p) => p,
            Feature::MaRatio(n) => n,
            Feature::BbPosition | Feature::BbWidth => WINDOW_20,
            Feature::Macd | Feature::MacdSignal | Feature::MacdHist => 1,
            Feature::Atr14 => ATR_PERIOD,
            Feature::HighLowRange => 1,
            Feature::VolumeMaRatio => WINDOW_20,
            Feature::VolumeChange => 2,
            Feature::CloseToHigh52w | Feature::CloseToLow52w => WINDOW_20,
            Feature::Unknown => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_round_trip() {
        for &(name, f) in CATALOGUE {
            assert_eq!(Feature::parse(name), f);
            assert_eq!(f.name(), Some(name));
            assert!(f.rows_needed().is_some());
        }
        assert_eq!(CATALOGUE.len(), 29);
    }

    #[test]
    fn names_outside_the_catalogue_are_unknown() {
        for name in [
            "ret_3d",
            "RSI_14",
            "vol_5",
            "ret_1d ",
            "",
            "unknown_feature_xyz",
        ] {
            assert_eq!(Feature::parse(name), Feature::Unknown, "{name:?}");
        }
        assert_eq!(Feature::Unknown.name(), None);
        assert_eq!(Feature::Unknown.rows_needed(), None);
        assert_eq!(
            Feature::parse_list(&["rsi_14", "nope", "macd"]),
            [Feature::Rsi(14), Feature::Unknown, Feature::Macd]
        );
    }
}
