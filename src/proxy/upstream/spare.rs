//! One upstream connection per routed name, made when the proxy starts (ARCHITECTURE.md §7): without it
//! the first request through a fresh proxy waits for a TCP and a TLS handshake with upstream on top of
//! its own, 1.3-1.7 ms of the first request's time in `scripts/bench`'s setting. The connector hands a spare
//! out once, to the first request for its name; later connections are dialled as before.
//!
//! A spare is used only while it is younger than `limits.upstream_idle_timeout_secs` (after that the
//! proxy would have failed it as idle anyway, and the holder drops every spare still unused) and only if
//! what arrived on it meanwhile is nothing, or TLS housekeeping (TLS 1.3 session tickets): end of
//! stream, an alert, a TLS error or any application data from a server nobody has asked anything means
//! the spare is dropped and the request dials a fresh connection.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;

/// At most this many spares are held, whatever the config lists (the leaves minted at start are capped
/// the same way).
pub(crate) const MAX_SPARES: usize = 64;

/// The spares, by `host:port` (lowercase).
#[derive(Debug)]
pub(crate) struct Spares {
    slots: Mutex<HashMap<String, (Instant, TlsStream<TcpStream>)>>,
    ttl: Duration,
}

impl Spares {
    pub(crate) fn new(ttl: Duration) -> Spares {
        Spares { slots: Mutex::new(HashMap::new()), ttl }
    }

    pub(crate) fn key(host: &str, port: u16) -> String {
        format!("{}:{port}", host.to_ascii_lowercase())
    }

    /// Keeps `stream` for the first request to `key`, unless [`MAX_SPARES`] are held already.
    pub(crate) fn put(&self, key: String, stream: TlsStream<TcpStream>) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() < MAX_SPARES {
            slots.insert(key, (Instant::now(), stream));
        }
    }

    /// The spare for `key`, once, if it is still fresh and clean.
    pub(crate) fn take(&self, key: &str) -> Option<TlsStream<TcpStream>> {
        let (made, mut stream) = self.slots.lock().unwrap_or_else(|e| e.into_inner()).remove(key)?;
        (made.elapsed() < self.ttl && clean(&mut stream)).then_some(stream)
    }

    /// Drops every spare no request took: called once the spares are as old as the TTL.
    pub(crate) fn clear(&self) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// How many spares are held (for tests and the start-up log).
    pub(crate) fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Feeds whatever the socket holds through rustls without blocking: true when it was nothing or only
/// TLS housekeeping, false on end of stream, an error, a close alert or application data.
fn clean(stream: &mut TlsStream<TcpStream>) -> bool {
    let (tcp, session) = stream.get_mut();
    let mut buf = [0u8; 4096];
    loop {
        let n = match tcp.try_read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        };
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            if !matches!(session.read_tls(&mut rest), Ok(read) if read > 0) {
                return false;
            }
            match session.process_new_packets() {
                Ok(state) if !state.peer_has_closed() && state.plaintext_bytes_to_read() == 0 => {}
                _ => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    use super::*;

    /// What the server does once the handshake is over, before the client takes its spare.
    #[derive(Clone, Copy, Debug)]
    enum Server {
        Idle,
        SendsData,
        Closes,
    }

    /// A real TLS connection over loopback to a server that then does `then`; returns the client side
    /// once what the server sent is readable. An idle server has sent its TLS 1.3 session tickets; the
    /// others send no tickets, so what is readable is the data or the close alert.
    async fn spare_with(then: Server) -> TlsStream<TcpStream> {
        let cert = rcgen::generate_simple_self_signed(vec!["spare.test".to_string()]).unwrap();
        let der = CertificateDer::from(cert.cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
        let mut server = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .unwrap();
        if !matches!(then, Server::Idle) {
            server.send_tls13_tickets = 0;
        }
        let acceptor = TlsAcceptor::from(Arc::new(server));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let client = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (done, wrote) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            match then {
                Server::Idle => {}
                Server::SendsData => tls.write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n").await.unwrap(),
                Server::Closes => tls.shutdown().await.unwrap(),
            }
            let _ = done.send(());
            std::future::pending::<()>().await;
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("spare.test").unwrap();
        let stream = TlsConnector::from(Arc::new(client)).connect(name, tcp).await.unwrap();
        wrote.await.unwrap();
        let readable = tokio::time::timeout(Duration::from_secs(20), stream.get_ref().0.readable());
        readable.await.expect("the server's tickets, data or close alert arrive").unwrap();
        stream
    }

    /// One row per case: a quiet spare (TLS 1.3 session tickets at most) is handed out; one the server
    /// wrote to or closed, or one older than the TTL, is dropped and the request dials afresh.
    #[tokio::test]
    async fn a_spare_is_handed_out_only_fresh_and_clean() {
        let rows = [
            (Server::Idle, Duration::from_secs(60), true),
            (Server::SendsData, Duration::from_secs(60), false),
            (Server::Closes, Duration::from_secs(60), false),
            (Server::Idle, Duration::ZERO, false),
        ];
        for (then, ttl, handed_out) in rows {
            let spares = Spares::new(ttl);
            spares.put(Spares::key("Spare.Test", 443), spare_with(then).await);
            assert_eq!(spares.len(), 1);
            assert_eq!(spares.take("spare.test:443").is_some(), handed_out, "{then:?} ttl {ttl:?}");
            assert!(spares.take("spare.test:443").is_none(), "{then:?}: a spare is handed out once");
        }
    }
}
