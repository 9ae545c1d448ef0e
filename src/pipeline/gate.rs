//! Stage `gate`.
