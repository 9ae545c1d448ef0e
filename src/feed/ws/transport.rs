//! The byte stream under a websocket: plain TCP or rustls over TCP, for
//! the client (mio stream, [`rustls::ClientConnection`]) and the feed
//! server (std stream, [`rustls::ServerConnection`]) alike.
//!
//! Feed thread and feed-server threads; forwards to the stream it wraps
//! (no allocation of its own).

use std::io::{self, Read, Write};
use std::ops::{Deref, DerefMut};

use rustls::{ConnectionCommon, SideData, StreamOwned};

/// A plain or TLS stream over `S`; `C` is rustls' connection side.
pub(crate) enum Transport<C, S>
where
    C: DerefMut + Deref<Target = ConnectionCommon<<C as TlsSide>::Data>> + TlsSide,
    S: Read + Write,
{
    Plain(S),
    Tls(Box<StreamOwned<C, S>>),
}

/// Names the rustls side data of a connection type.
pub(crate) trait TlsSide {
    type Data: SideData;
}

impl TlsSide for rustls::ClientConnection {
    type Data = rustls::client::ClientConnectionData;
}

impl TlsSide for rustls::ServerConnection {
    type Data = rustls::server::ServerConnectionData;
}

impl<C, S> Transport<C, S>
where
    C: DerefMut + Deref<Target = ConnectionCommon<<C as TlsSide>::Data>> + TlsSide,
    S: Read + Write,
{
    /// The TCP stream under either form.
    pub(crate) fn tcp(&self) -> &S {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => &s.sock,
        }
    }

    /// The TCP stream under either form, mutably.
    pub(crate) fn tcp_mut(&mut self) -> &mut S {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => &mut s.sock,
        }
    }
}

impl<C, S> Read for Transport<C, S>
where
    C: DerefMut + Deref<Target = ConnectionCommon<<C as TlsSide>::Data>> + TlsSide,
    S: Read + Write,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }
}

impl<C, S> Write for Transport<C, S>
where
    C: DerefMut + Deref<Target = ConnectionCommon<<C as TlsSide>::Data>> + TlsSide,
    S: Read + Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}
