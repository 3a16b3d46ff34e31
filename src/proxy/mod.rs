//! The network edge: where HTTP CONNECT (and optionally direct TLS) clients meet the policy.
//!
//! Data flow per connection: [`server`] accepts under the connection limits, `connect` answers the
//! CONNECT head (port, proxy authentication, endpoint host), `sni` terminates TLS with a leaf minted by
//! [`certs`] and refuses a ClientHello that names another host, `handler` authorizes each inner request
//! from its head (reading at most a bounded body prefix) and either answers with the AWS-shaped denial of
//! `deny` or streams it through `forward`. `body` is the single place where a request's outcome and byte
//! counts are known, so the audit record is written there.
//!
//! Tests run the whole edge in-process: bind `127.0.0.1:0`, build a [`ProxyState`], call [`serve`].

mod body;
pub mod certs;
mod connect;
mod deny;
pub mod endpoint;
mod forward;
mod handler;
mod ids;
mod limits;
pub mod routes;
mod server;
mod sni;
mod state;
mod tunnel;

pub use certs::{CertError, CertStore};
pub use server::{serve, serve_sni};
pub use state::{Authorize, AuthorizerSource, ProxyState, StartError};
