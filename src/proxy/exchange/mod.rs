//! The exchange stage: each inner request on a terminated connection, from its head to the end of its
//! response body.
//!
//! [`pipeline`] is the path of one request; [`exit`] names every way it can end early and [`rescue`] is
//! the only place such an end becomes a response ([`deny`] shapes it as the service would), an audit
//! line and a metric. [`body`] streams both directions and writes the audit line when the exchange ends,
//! however it ends. [`serve`] runs HTTP/1.1 or h2 on the connection.

mod body;
mod conn;
mod deny;
mod exit;
mod headers;
mod pipeline;
mod rescue;
mod serve;

pub(crate) use self::body::RequestBody;
pub(crate) use self::conn::ConnCtx;
pub(crate) use self::serve::serve_http;
