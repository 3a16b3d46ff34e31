//! Shared pieces for the edge tests: a TLS upstream that echoes what it received, a scripted authorizer,
//! an in-process proxy, and a client that goes CONNECT -> TLS (trusting the proxy CA) -> HTTP.
#![allow(dead_code)]

pub mod story;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use vpce_proxy::admin::Metrics;
use vpce_proxy::audit::{AuditLog, Recent};
use vpce_proxy::authorize::{Authorize, Authorizer, AuthorizerSource, ConnFacts, Verdict};
use vpce_proxy::classify::{
    Classification, HostInfo, Permission, PrincipalSource, Refusal, RequestHead, Service,
};
use vpce_proxy::config::{Config, UpstreamRoute};
use vpce_proxy::load::{load_policies, Fingerprints};
use vpce_proxy::policy::{Decision, Effect, Layer, Matched, Outcome, RequestContext};
use vpce_proxy::proxy::{self, ProxyState};
use vpce_proxy::reload::LiveAuthorizer;

/// The registry host most tests use.
pub const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
/// A test deadline: every wait in these tests is bounded by it.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A TLS upstream stand-in with its own CA, counting the TCP connections it accepted.
pub struct Upstream {
    pub addr: SocketAddr,
    pub ca_pem: String,
    pub connections: Arc<AtomicUsize>,
    /// Request body bytes received so far, counted as frames arrive (not when a body completes).
    pub received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TLS acceptor for `names` (h2 and HTTP/1.1 by ALPN) with a certificate from a fresh CA, and that
/// CA's PEM for the proxy to trust.
pub fn tls_acceptor(names: &[&str]) -> (tokio_rustls::TlsAcceptor, String) {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    // Each CA its own name: rustls finds a trust anchor by subject, so two CAs of one name would make an
    // untrusted chain a bad signature instead of an unknown issuer.
    static SERIAL: AtomicUsize = AtomicUsize::new(0);
    let name = format!("test upstream CA {}", SERIAL.fetch_add(1, Ordering::Relaxed));
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(leaf.der().to_vec())], key)
        .unwrap();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (tokio_rustls::TlsAcceptor::from(Arc::new(tls)), ca.pem())
}

/// Starts the echo upstream on 127.0.0.1:0 serving the given names (h2 and HTTP/1.1 by ALPN).
pub async fn upstream(names: &[&str]) -> Upstream {
    let (acceptor, ca_pem) = tls_acceptor(names);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    let received = Arc::new(AtomicU64::new(0));
    let received_total = Arc::clone(&received);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            // No Nagle delay: tests on a paused clock need every written byte readable at once.
            let _ = stream.set_nodelay(true);
            counter.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let received = Arc::clone(&received_total);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else { return };
                let service = hyper::service::service_fn(move |req| echo(req, Arc::clone(&received)));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Upstream { addr, ca_pem, connections, received, task }
}

type TestBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// `/stream?chunks=N&delay_ms=D` streams N 1 KiB chunks D ms apart; anything else is echoed as JSON.
async fn echo(req: Request<Incoming>, received: Arc<AtomicU64>) -> Result<Response<TestBody>, Infallible> {
    let path = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    if let Some(query) = path.strip_prefix("/stream?") {
        let arg = |name: &str| -> u64 {
            query.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap().parse().unwrap()
        };
        let (chunks, delay) = (arg("chunks"), arg("delay_ms"));
        let (tx, rx) = mpsc::channel::<Bytes>(1);
        tokio::spawn(async move {
            for _ in 0..chunks {
                if tx.send(Bytes::from(vec![b'x'; 1024])).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
        });
        return Ok(Response::new(ChannelBody(rx).boxed()));
    }
    let target = req.headers().get("x-amz-target").map(|t| t.as_bytes().to_vec()).unwrap_or_default();
    if target.ends_with(b".GetAuthorizationToken") {
        return Ok(Response::new(Full::new(Bytes::from(authorization_token_response())).boxed()));
    }
    let method = req.method().to_string();
    let version = format!("{:?}", req.version());
    let authority = req.uri().authority().map(|a| a.to_string());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let mut body = req.into_body();
    let (mut hasher, mut body_len) = (Sha256::new(), 0usize);
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            received.fetch_add(data.len() as u64, Ordering::SeqCst);
            hasher.update(data);
            body_len += data.len();
        }
    }
    let json = serde_json::json!({
        "method": method, "path": path, "version": version, "authority": authority, "headers": headers,
        "body_len": body_len, "body_sha256": hex::encode(hasher.finalize()),
    });
    let mut response = Response::new(Full::new(Bytes::from(json.to_string())).boxed());
    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
    Ok(response)
}

/// The registry password [`echo`] hands out for GetAuthorizationToken.
pub const LEARNED_PASSWORD: &str = "learned-token-123";

/// ECR API Reference, GetAuthorizationToken: base64 `AWS:password`, valid until `expiresAt` (epoch s).
fn authorization_token_response() -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{LEARNED_PASSWORD}"));
    let expires =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    serde_json::json!({"authorizationData": [{
        "authorizationToken": token, "expiresAt": expires, "proxyEndpoint": "https://123456789123.dkr.ecr.us-east-1.amazonaws.com"
    }]})
    .to_string()
}

/// A body fed from a channel: what the test sends is what goes out, when it is sent.
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// Decides like a tiny endpoint policy: PUT and paths under `/deny` are denied, paths under `/explicit`
/// explicitly denied (Sid `NoExplicit`), paths under `/refuse` refused, everything else allowed.
/// `POST` with `X-Amz-Target` asks for 64 body bytes first, as the ECR API classifier does.
pub struct Scripted;

impl Authorize for Scripted {
    fn body_needed(&self, head: &RequestHead<'_>) -> Option<usize> {
        head.headers.contains_key("x-amz-target").then_some(64)
    }

    fn authorize(
        &self,
        head: &RequestHead<'_>,
        body: Option<&[u8]>,
        _: &ConnFacts,
    ) -> Result<Verdict, Refusal> {
        if head.path.starts_with("/refuse") {
            return Err(Refusal("the path is not a registry API path".into()));
        }
        let action = if head.method == "PUT" { "ecr:PutImage" } else { "ecr:BatchGetImage" };
        let resource = "arn:aws:ecr:us-east-1:123456789012:repository/app".to_string();
        let denied = head.method == "PUT"
            || head.path.starts_with("/deny")
            || body.is_some_and(|b| b.starts_with(b"deny"));
        let decision = if head.path.starts_with("/explicit") {
            Decision {
                outcome: Outcome::ExplicitDeny,
                denied_by: Some(Layer::VpcEndpoint),
                message: Some(format!(
                    "User: anonymous is not authorized to perform: {action} on resource: {resource} with an \
                     explicit deny in a VPC endpoint policy"
                )),
                matched: vec![Matched {
                    policy: Layer::VpcEndpoint,
                    sid: Some("NoExplicit".into()),
                    effect: Effect::Deny,
                }],
            }
        } else if denied {
            Decision {
                outcome: Outcome::ImplicitDeny,
                denied_by: Some(Layer::VpcEndpoint),
                message: Some(format!(
                    "User: anonymous is not authorized to perform: {action} on resource: {resource} because no VPC \
                     endpoint policy allows the {action} action"
                )),
                matched: vec![],
            }
        } else {
            Decision { outcome: Outcome::Allow, denied_by: None, message: None, matched: vec![] }
        };
        let host = HostInfo {
            service: Service::EcrDkr,
            region: "us-east-1".into(),
            partition: "aws",
            account: Some("123456789012".into()),
            bucket: None,
        };
        let permission = Permission { action: action.into(), resource, resource_account: None };
        Ok(Verdict {
            classification: Classification {
                host,
                permission: Some(permission),
                additional: vec![],
                context: RequestContext::new(),
            },
            principal: "anonymous".into(),
            principal_source: PrincipalSource::Anonymous,
            decision,
            shadow: None,
            enforced: true,
        })
    }

    fn wants_response(&self, _: &Verdict) -> bool {
        false
    }

    fn observe_response(&self, _: &Verdict, _: u16, _: &[u8]) {}
}

impl AuthorizerSource for Scripted {
    fn current(&self) -> Arc<dyn Authorize> {
        Arc::new(Scripted)
    }
}

/// A running in-process proxy; dropping `stop` (or sending on it) starts the graceful shutdown.
pub struct Proxy {
    pub addr: SocketAddr,
    pub state: Arc<ProxyState>,
    pub stop: Option<oneshot::Sender<()>>,
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
    pub dir: tempfile::TempDir,
    /// The decision viewer's ring, filled by the audit log as `run` does with an admin listener.
    pub recent: Arc<Recent>,
    /// The authorizer source the proxy decides with (the viewer explains records with it).
    pub live: Arc<dyn AuthorizerSource>,
    audit: Arc<std::sync::Mutex<Vec<u8>>>,
}

/// Collects audit lines in memory.
struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Proxy {
    /// The audit lines written so far, parsed.
    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.audit.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    pub fn ca_pem(&self) -> String {
        self.state.certs.ca_pem().to_string()
    }
}

/// A config whose registry and API hosts route to `upstream`, trusting its CA.
pub fn config_for(upstream: &Upstream, dir: &Path) -> Config {
    let ca_file = dir.join("upstream-ca.pem");
    std::fs::write(&ca_file, &upstream.ca_pem).unwrap();
    let mut config = Config::default();
    config.ca.dir = dir.join("certs");
    config.upstream_tls.extra_ca = Some(ca_file);
    // These tests count the TCP connections upstream accepts to prove what reached it; a spare made at
    // start would be one of them. `upstream_spare_serves_the_first_request` turns it back on.
    config.upstream_tls.preconnect = false;
    config.upstreams = vec![
        UpstreamRoute {
            host: "*.dkr.ecr.us-east-1.amazonaws.com".into(),
            address: upstream.addr.to_string(),
        },
        UpstreamRoute { host: "api.ecr.us-east-1.amazonaws.com".into(), address: upstream.addr.to_string() },
    ];
    config
}

/// Starts the proxy on 127.0.0.1:0 with `config` (built by `edit` from [`config_for`]), deciding with
/// the [`Scripted`] authorizer.
pub async fn proxy(upstream: &Upstream, edit: impl FnOnce(&mut Config)) -> Proxy {
    start(upstream, edit, |_| Arc::new(Scripted)).await
}

/// Like [`proxy`], deciding with the real [`Authorizer`] built from the config, behind a
/// [`LiveAuthorizer`] as `run` does.
pub async fn proxy_live(upstream: &Upstream, edit: impl FnOnce(&mut Config)) -> Proxy {
    start(upstream, edit, |config| {
        let policies = load_policies(config, &mut Fingerprints::default()).expect("test config loads");
        Arc::new(LiveAuthorizer::new(Authorizer::new(config, policies)))
    })
    .await
}

async fn start(
    upstream: &Upstream,
    edit: impl FnOnce(&mut Config),
    source: impl FnOnce(&Config) -> Arc<dyn AuthorizerSource>,
) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(upstream, dir.path());
    edit(&mut config);
    let live = source(&config);
    let audit_buf = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recent = Arc::new(Recent::new(1000));
    let audit = AuditLog::to_writer(Box::new(SharedBuf(Arc::clone(&audit_buf)))).keeping(Arc::clone(&recent));
    let state = Arc::new(
        ProxyState::new(config, Arc::clone(&live), Arc::new(Metrics::new()), Arc::new(audit)).unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(proxy::serve(listener, Arc::clone(&state), async move {
        let _ = stopped.await;
    }));
    Proxy { addr, state, stop: Some(stop), done, dir, recent, live, audit: audit_buf }
}

/// Sends `CONNECT target HTTP/1.1` with `extra` header lines and returns the stream and the response head.
pub async fn connect(proxy: SocketAddr, target: &str, extra: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    // No Nagle delay: tests on a paused clock need every written byte readable at once.
    stream.set_nodelay(true).unwrap();
    let head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{extra}\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let response = read_head(&mut stream).await;
    (stream, response)
}

/// Reads a response head byte by byte (so nothing after it is consumed); empty on EOF.
pub async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(DEADLINE, stream.read(&mut byte)).await.expect("head in time") {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A CONNECT tunnel to `host:443` that the proxy accepted, with TLS to the proxy's leaf for `host` over it.
pub async fn tunnel_tls(
    proxy: &Proxy,
    host: &str,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let (stream, head) = connect(proxy.addr, &format!("{host}:443"), "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    tls(stream, host, &proxy.ca_pem(), alpn).await.unwrap()
}

/// TLS over an established tunnel, trusting only `ca_pem`, offering `alpn`.
pub async fn tls(
    stream: TcpStream,
    sni: &str,
    ca_pem: &str,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    connector.connect(ServerName::try_from(sni.to_string()).unwrap(), stream).await
}

/// A response with its body collected.
#[derive(Debug)]
pub struct Collected {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Collected {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

/// The registry login every registry request carries unless a test sets its own: a token the proxy never
/// saw issued, so the caller is `anonymous`. Without any credentials the proxy would answer ECR's 401
/// challenge before any policy (ARCHITECTURE.md §4), which `request_without_credentials` tests.
pub const REGISTRY_LOGIN: &str = "Basic QVdTOnVuaXNzdWVk";

/// One request through a fresh CONNECT tunnel for `host`, over h2 when `h2` else HTTP/1.1, logged in to
/// the registry as a docker client is ([`REGISTRY_LOGIN`], on registry hosts without an `Authorization`).
pub async fn request(proxy: &Proxy, host: &str, h2: bool, req: Request<Full<Bytes>>) -> Collected {
    request_without_credentials(proxy, host, h2, logged_in(host, req)).await
}

/// `req` with [`REGISTRY_LOGIN`] when it goes to a registry host and carries no `Authorization`.
pub fn logged_in<B>(host: &str, mut req: Request<B>) -> Request<B> {
    let headers = req.headers_mut();
    if host.contains(".dkr.") && !headers.contains_key(http::header::AUTHORIZATION) {
        headers.insert(http::header::AUTHORIZATION, http::HeaderValue::from_static(REGISTRY_LOGIN));
    }
    req
}

/// [`request`] exactly as given: a registry request without `Authorization` is challenged.
pub async fn request_without_credentials(
    proxy: &Proxy,
    host: &str,
    h2: bool,
    req: Request<Full<Bytes>>,
) -> Collected {
    let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
    let tls = tunnel_tls(proxy, host, alpn).await;
    send_as_is(tls, h2, req).await
}

/// Sends one request over an established TLS stream.
pub async fn send(
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    h2: bool,
    req: Request<Full<Bytes>>,
) -> Collected {
    let host =
        req.uri().host().map(str::to_string).or_else(|| {
            req.headers().get(http::header::HOST).and_then(|v| v.to_str().ok()).map(str::to_string)
        });
    send_as_is(tls, h2, logged_in(host.as_deref().unwrap_or(""), req)).await
}

/// [`send`] without adding the registry login.
pub async fn send_as_is(
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    h2: bool,
    req: Request<Full<Bytes>>,
) -> Collected {
    let io = TokioIo::new(tls);
    let response = if h2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(req).await.unwrap()
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(req).await.unwrap()
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Collected { status, headers, body }
}
