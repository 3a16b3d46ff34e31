//! `vpce-proxy ca init|export`: create the local CA ahead of the first run, and hand its certificate
//! to clients with the commands that make each kind of client trust it.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::proxy::certs;

fn ca_dir(config: Option<&Path>) -> Result<std::path::PathBuf, String> {
    match config {
        Some(path) => Config::load(path).map(|c| c.ca.dir).map_err(|e| e.to_string()),
        None => Ok(Config::default().ca.dir),
    }
}

/// Creates the CA if missing; exit 0 either way, 1 on error.
pub fn init(config: Option<&Path>) -> ExitCode {
    let result = ca_dir(config)
        .and_then(|dir| certs::init(&dir).map(|created| (dir, created)).map_err(|e| e.to_string()));
    match result {
        Ok((dir, true)) => {
            eprintln!(
                "created CA {} (key {} mode 0600)",
                dir.join("ca.crt").display(),
                dir.join("ca.key").display()
            );
            ExitCode::SUCCESS
        }
        Ok((dir, false)) => {
            eprintln!("CA already exists in {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vpce-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the CA PEM on stdout (creating the CA if missing) and how to trust it on stderr.
pub fn export(config: Option<&Path>) -> ExitCode {
    let result = ca_dir(config).and_then(|dir| {
        certs::init(&dir).map_err(|e| e.to_string())?;
        let crt = dir.join("ca.crt");
        match crate::files::read_to_string(&crt) {
            Ok(pem) => Ok((crt, pem)),
            Err(e) => Err(format!("{}: {e}", crt.display())),
        }
    });
    match result {
        Ok((crt, pem)) => {
            print!("{pem}");
            eprint!("{}", trust_instructions(&crt));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vpce-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How each client kind is told to trust the CA (ARCHITECTURE.md §3).
pub fn trust_instructions(crt: &Path) -> String {
    let crt = crt.display();
    format!(
        "Trust this CA (saved as {crt}) in the clients that use the proxy:\n\
         \x20 system store (Debian/Ubuntu): sudo cp {crt} /usr/local/share/ca-certificates/vpce-proxy.crt && sudo update-ca-certificates\n\
         \x20 docker daemon, per registry:  sudo mkdir -p /etc/docker/certs.d/HOST && sudo cp {crt} /etc/docker/certs.d/HOST/ca.crt\n\
         \x20                               (HOST = ACCOUNT.dkr.ecr.REGION.amazonaws.com)\n\
         \x20 aws CLI / boto3:              export AWS_CA_BUNDLE={crt}\n\
         \x20 Go clients (skopeo, crane):   export SSL_CERT_FILE={crt}\n\
         and point them at the proxy:    export HTTPS_PROXY=http://127.0.0.1:3128\n"
    )
}
