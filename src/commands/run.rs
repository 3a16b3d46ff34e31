//! `vpce-proxy run`: load the config (or the embedded defaults) through the reloader, open the audit
//! log and the CA, bind the CONNECT, SNI and admin listeners, serve until SIGTERM/SIGINT (reloading on
//! SIGHUP and file changes meanwhile), then drain and exit 0.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::{serve_admin, Admin, Metrics};
use crate::audit::AuditLog;
use crate::authorize::AuthorizerSource;
use crate::load::LoadError;
use crate::proxy::{self, ProxyState};
use crate::reload::{spawn_reloader, Reloader, POLL_INTERVAL};

/// Why `run` stopped with an error (exit 1); each names what the operator must fix.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The config or a policy file is unreadable or invalid (FILE:LINE:COL).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The audit file cannot be opened.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// The CA or upstream trust could not be set up.
    #[error(transparent)]
    Start(#[from] proxy::StartError),
    /// A listener address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(std::net::SocketAddr, std::io::Error),
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs the proxy until SIGTERM/SIGINT.
pub fn main(config: Option<&Path>) -> ExitCode {
    init_tracing();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)
        .and_then(|rt| rt.block_on(run(config)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vpce-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VPCE_PROXY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour codes only for a terminal: under systemd or kubectl logs they would garble every line.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Loads everything, binds, serves; returns after a signal and the drain. One load path
/// ([`Reloader::load`]) for start-up and reload, so both refuse the same files.
pub async fn run(config_path: Option<&Path>) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::new());
    let loaded = Reloader::load(config_path.map(Path::to_path_buf), Arc::clone(&metrics))?;
    let mut audit = AuditLog::from_config(&loaded.config.audit)?;
    if loaded.config.listen.admin.is_some() {
        audit = audit.keeping(Arc::clone(&loaded.recent));
    }
    let audit = Arc::new(audit);
    loaded.reloader.reopen_audit_on_hangup(Arc::clone(&audit));
    metrics.report_bindings(Arc::clone(&loaded.bindings));
    let live = Arc::clone(&loaded.live);
    let state = Arc::new(ProxyState::new(loaded.config, live, Arc::clone(&metrics), audit)?);
    let listen = state.config.listen.clone();
    let connect = bind(listen.connect).await?;
    let sni = match listen.sni {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let admin = match listen.admin {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    // Every signal handler is in place before the first announce line: scripts signal on reading it.
    let shutdown = shutdown_signal();
    let reloads = spawn_reloader(Arc::clone(&loaded.reloader), POLL_INTERVAL, stopped(stop_rx.clone()));
    announce(&state, &connect, sni.as_ref(), admin.as_ref());
    announce_bindings(&state.config.bindings);

    let mut tasks = vec![tokio::spawn(proxy::serve(connect, Arc::clone(&state), stopped(stop_rx.clone())))];
    if let Some(listener) = sni {
        tasks.push(tokio::spawn(proxy::serve_sni(listener, Arc::clone(&state), stopped(stop_rx.clone()))));
    }
    let admin_task = admin.map(|listener| {
        let admin = Admin::new(Arc::clone(&loaded.health), Arc::clone(&metrics))
            .with_viewer(Arc::clone(&loaded.recent), Arc::clone(&loaded.live) as Arc<dyn AuthorizerSource>)
            .with_token(state.config.admin.token.clone());
        tokio::spawn(serve_admin(listener, Arc::new(admin), stopped(stop_rx.clone())))
    });

    shutdown.await;
    eprintln!(
        "vpce-proxy: shutting down: no new connections, draining for up to {}s",
        state.config.limits.drain_timeout.as_secs()
    );
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    if let Some(task) = admin_task {
        let _ = task.await;
    }
    let _ = reloads.await;
    // The file store's last logins; Redis's queued writes (bounded wait).
    loaded.bindings.flush().await;
    eprintln!("vpce-proxy: stopped");
    Ok(())
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr).await.map_err(|e| RunError::Bind(addr, e))
}

/// Tells the operator where each listener is and how to trust the CA. The addresses are the bound ones, so
/// a configured port 0 shows the port the kernel chose; scripts (and the lab) bind port 0 and read their
/// ports from these lines: one per listener, each with its own prefix (`vpce-proxy listening on `,
/// `vpce-proxy SNI listener on `, `vpce-proxy admin listener on `) followed by `ADDR: `.
fn announce(
    state: &ProxyState,
    connect: &TcpListener,
    sni: Option<&TcpListener>,
    admin: Option<&TcpListener>,
) {
    let addr =
        connect.local_addr().map_or_else(|_| state.config.listen.connect.to_string(), |a| a.to_string());
    let ca = state.config.ca.dir.join("ca.crt");
    say(&format!("vpce-proxy listening on {addr}: set HTTPS_PROXY=http://{addr}"));
    if let Some(Ok(sni_addr)) = sni.map(TcpListener::local_addr) {
        say(&format!("vpce-proxy SNI listener on {sni_addr}: resolve the endpoint host names to it"));
    }
    if let Some(Ok(admin_addr)) = admin.map(TcpListener::local_addr) {
        say(&format!("vpce-proxy admin listener on {admin_addr}: decisions at http://{admin_addr}/, /healthz, /metrics"));
    }
    say(&format!(
        "Trust the CA {}: AWS_CA_BUNDLE={} (aws CLI, boto3), SSL_CERT_FILE={} (Go clients, skopeo), \
         or copy it to /etc/docker/certs.d/HOST/ca.crt (docker); `vpce-proxy ca export` prints it",
        ca.display(),
        ca.display(),
        ca.display()
    ));
}

/// Where learned registry logins are kept, so an operator sees at start whether a restart forgets them.
fn announce_bindings(config: &crate::config::BindingsConfig) {
    use crate::config::StoreChoice;
    let line = match &config.store {
        StoreChoice::Memory => "memory only: a restart forgets docker logins (see [bindings])".to_string(),
        StoreChoice::File(path) => format!("memory, kept in {}", path.display()),
        StoreChoice::Redis(_) => format!(
            "memory in front of Redis, lookups bounded at {:?}; /healthz says whether it answers",
            config.lookup_timeout
        ),
    };
    say(&format!("vpce-proxy token bindings: {line}"));
}

/// Writes one line to stderr in a single write: `eprintln!` writes its pieces separately (stderr is
/// unbuffered), so a reader polling the log could see an address cut short.
fn say(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(format!("{line}\n").as_bytes());
}

/// Registers the SIGTERM and SIGINT handlers now and returns a future that resolves on the first of
/// them. Registering at the call, not at the first poll, is what lets `run` take them over before it
/// announces a listener: a supervisor that signals as soon as it reads the address gets a clean stop,
/// not the default action's death by signal.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let signals = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
    async move {
        match signals {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
