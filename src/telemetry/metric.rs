//! The catalogue of measured latencies (DESIGN §8): one dense enum value per
//! pipeline stage and per end-to-end span, used to index the recorder's
//! histograms.
//!
//! Used on the engine thread (as an index) and on cold threads (names and
//! labels). Hot path: `Copy`, `const` accessors, no allocation.

/// One measured latency. Dense: `metric as usize` indexes [`Metric::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Metric {
    /// Decoding one frame or row into a `MarketEvent` (feed thread).
    FeedDecode,
    /// Feed → engine queue: event pushed by the feed thread → drained by
    /// the engine.
    FeedQueue,
    /// Feature update and read-out for one symbol.
    Features,
    /// Model predictions for one symbol (all horizons and families).
    Predict,
    /// Standardise, score and blend one symbol's horizons.
    Blend,
    /// Horizon arbitration for one symbol.
    Arbitrate,
    /// Spread and barrier gates and exits for one symbol.
    Gate,
    /// Sizing for one symbol.
    Size,
    /// Risk validation of one order.
    Risk,
    /// The whole decision of one symbol, features to risk: a cycle's own
    /// time (broker reply waits excluded) over its decisions.
    Decision,
    /// One whole cycle: every symbol decided and normalised together.
    Cycle,
    /// Prediction start → order handed to the broker link.
    InferenceToOrder,
    /// Frame received → order handed to the broker link.
    WireToOrder,
    /// Order handed to the broker link → broker acknowledgement.
    OrderToAck,
    /// Order handed to the broker link → (first) fill.
    OrderToFill,
}

impl Metric {
    /// Number of metrics.
    pub const COUNT: usize = 15;

    /// Every metric in report order; `ALL[m as usize] == m`.
    pub const ALL: [Metric; Metric::COUNT] = [
        Metric::FeedDecode,
        Metric::FeedQueue,
        Metric::Features,
        Metric::Predict,
        Metric::Blend,
        Metric::Arbitrate,
        Metric::Gate,
        Metric::Size,
        Metric::Risk,
        Metric::Decision,
        Metric::Cycle,
        Metric::InferenceToOrder,
        Metric::WireToOrder,
        Metric::OrderToAck,
        Metric::OrderToFill,
    ];

    /// The metric as an index into per-metric arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Stable snake-case key used in JSON and file output.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::FeedDecode => "feed_decode",
            Metric::FeedQueue => "feed_queue",
            Metric::Features => "features",
            Metric::Predict => "predict",
            Metric::Blend => "blend",
            Metric::Arbitrate => "arbitrate",
            Metric::Gate => "gate",
            Metric::Size => "size",
            Metric::Risk => "risk",
            Metric::Decision => "decision",
            Metric::Cycle => "cycle",
            Metric::InferenceToOrder => "inference_to_order",
            Metric::WireToOrder => "wire_to_order",
            Metric::OrderToAck => "order_to_ack",
            Metric::OrderToFill => "order_to_fill",
        }
    }

    /// Human label used in the table and the plot legend.
    pub const fn label(self) -> &'static str {
        match self {
            Metric::FeedDecode => "feed decode",
            Metric::FeedQueue => "feed → engine queue",
            Metric::Features => "features",
            Metric::Predict => "predict",
            Metric::Blend => "blend",
            Metric::Arbitrate => "arbitrate",
            Metric::Gate => "gate",
            Metric::Size => "size",
            Metric::Risk => "risk",
            Metric::Decision => "whole decision",
            Metric::Cycle => "whole cycle",
            Metric::InferenceToOrder => "inference → order",
            Metric::WireToOrder => "wire → order",
            Metric::OrderToAck => "order → ack",
            Metric::OrderToFill => "order → fill",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_dense_and_names_are_unique() {
        for (i, m) in Metric::ALL.iter().enumerate() {
            assert_eq!(m.index(), i, "{}", m.name());
        }
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::COUNT);
        assert!(Metric::ALL.iter().all(|m| !m.label().is_empty()
            && m.name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')));
    }
}
