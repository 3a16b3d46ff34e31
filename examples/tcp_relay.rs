//! The floor `scripts/bench` measures the proxy against (ARCHITECTURE.md §7): a plain TCP relay on the
//! same tokio runtime, with nothing of the proxy's own work (no TLS, no HTTP, no decision, no audit
//! line). What it costs per request and per GB is what moving the bytes through a second process costs
//! on this machine: the kernel's share of the proxy's figures, which no change to the proxy can remove.
//!
//! `tcp_relay TARGET` binds 127.0.0.1:0, prints `listening on ADDR`, and copies every accepted
//! connection to TARGET and back with 64 KiB reads (the proxy's raw tunnels use the same size) until the
//! process is stopped. A bench tool: it trusts its one local user.
#![forbid(unsafe_code)]

use tokio::io::copy_bidirectional_with_sizes;
use tokio::net::{TcpListener, TcpStream};

const CHUNK: usize = 64 * 1024;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let target = std::env::args().nth(1).expect("usage: tcp_relay TARGET_HOST:PORT");
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (mut client, _) = listener.accept().await?;
        let target = target.clone();
        tokio::spawn(async move {
            let Ok(mut upstream) = TcpStream::connect(&target).await else { return };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let _ = copy_bidirectional_with_sizes(&mut client, &mut upstream, CHUNK, CHUNK).await;
        });
    }
}
