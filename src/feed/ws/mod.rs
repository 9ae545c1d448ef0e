//! Websocket market data: the Alpaca v2 stream client ([`WsFeed`]) and the
//! feed server that speaks the same protocol for tests and benchmarks
//! ([`server`], binary `feed-server`).
//!
//! - [`client`]: [`WsFeed`], tungstenite over a non-blocking mio socket,
//!   `ws://` or `wss://`, with an explicit connection state machine,
//!   reconnect with backoff, ping/pong and a staleness watchdog; it hands
//!   raw data frames (`&[u8]` plus a receive stamp) to the caller, who
//!   decodes them (`feed::alpaca`);
//! - [`backoff`]: exponential backoff with seeded jitter;
//! - [`credentials`]: key and secret from the environment or a 0600 file;
//! - [`tls`]: rustls configurations (certificate roots, server certificate);
//! - [`server`]: the feed server (simulator or CSV replay at a chosen rate,
//!   fault injection).
//!
//! Feed thread (client) and the feed server's own threads; never the
//! engine thread.
//!
//! # Allocation per message
//!
//! The client allocates nothing of its own per data frame: the frame is
//! handed out as a borrowed slice and the control check is a byte
//! comparison. tungstenite does allocate: its read buffer is a `BytesMut`,
//! each message's payload is `split_to` off it (turning the buffer into a
//! shared one) and owned by the `Message` (`Text(Utf8Bytes)` /
//! `Binary(Bytes)`); the buffer's `reserve` for the next frame reallocates
//! when the previous payload is still alive or the buffer cannot be
//! reclaimed in place, and a fragmented message is assembled in a fresh
//! `Vec`. The client drops every message before reading the next one, so
//! the buffer can usually be reclaimed; with TLS, rustls decrypts into its
//! own reused buffers. Ping payloads are empty (no allocation).

pub mod backoff;
pub mod client;
pub mod credentials;
pub mod server;
pub mod tls;
mod transport;

pub use backoff::{Backoff, BackoffOptions};
pub use client::{
    control_kind, error_text, Channels, ConnState, ControlErrors, ControlKind, DataFrame,
    Disconnect, WsCounters, WsError, WsEvent, WsFeed, WsOptions,
};
pub use credentials::{Credentials, CredentialsError, DEFAULT_KEY_VAR, DEFAULT_SECRET_VAR};
pub use tls::{Roots, TlsError};
