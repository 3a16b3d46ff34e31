//! The network edge, one folder per stage in the order a connection passes through them:
//!
//! 1. [`listen`]: accept loops, connection limits, idle cut-off, graceful drain;
//! 2. `connect`: the CONNECT head, its admission (port, proxy credentials, endpoint host) and raw
//!    tunnels for other hosts;
//! 3. `tls`: the ClientHello must name the tunnel's host; a leaf minted by the local CA ([`certs`]);
//! 4. `exchange`: each inner request is authorized from its head (and a bounded body prefix), then
//!    answered with the AWS-shaped denial or streamed through; one function turns every early end into
//!    the response, the audit line and the metrics;
//! 5. `upstream`: the pooled TLS client and the `[[upstream]]` routes.
//!
//! [`state`] is what every stage shares. Tests run the whole edge in-process: bind `127.0.0.1:0`, build
//! a [`ProxyState`], call [`serve`].

pub(crate) mod connect;
mod exchange;
pub(crate) mod listen;
pub(crate) mod state;
mod tls;
mod upstream;

pub use listen::{serve, serve_sni};
pub use state::{ProxyState, StartError};
pub use tls::certs::{self, CertError, CertStore};
pub use upstream::UpstreamError;
