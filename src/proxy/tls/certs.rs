//! The local certificate authority and the per-host leaves it signs.
//!
//! The CA (`ca.crt`, `ca.key`) is created once; the key file is created with mode 0600 from the start
//! (never widened then narrowed). Leaves are ECDSA P-256 with the host as a SAN, valid 90 days (well
//! under the 13-month limit clients enforce), minted once per host even when many connections ask at the
//! same moment (the cache's single-flight `try_get_with`), and kept in a bounded cache.

use std::num::NonZeroU64;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

/// The CA's subject. Leaves name it as their issuer, so it must stay the same across runs: the CA
/// certificate object used for signing is rebuilt from the saved key with this name.
const CA_NAME: &str = "vpce-proxy local CA";
/// Leaves are valid this long; clients reject leaves valid for more than ~13 months.
const LEAF_DAYS: i64 = 90;
/// A leaf is replaced well before it expires.
const LEAF_CACHE_TTL: Duration = Duration::from_secs(60 * 24 * 3600);

/// Why the CA or a leaf could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A CA file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// `ca.crt` exists but `ca.key` does not: the certificate can no longer sign anything.
    #[error("{0}: CA certificate present but its key is missing; remove it to create a new CA")]
    MissingKey(PathBuf),
    /// The saved key is not a usable ECDSA P-256 PEM key.
    #[error("{path}: not a usable CA key: {source}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// The parser's reason.
        source: rcgen::Error,
    },
    /// Key generation or signing failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the minted leaf.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
}

/// The CA plus the cache of per-host TLS server configurations.
pub struct CertStore {
    ca_pem: String,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
    leaves: moka::sync::Cache<String, Arc<ServerConfig>>,
    mints: AtomicU64,
    sessions: Arc<dyn StoresServerSessions>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore").field("mints", &self.mints).finish_non_exhaustive()
    }
}

/// Paths of the two CA files in `dir`.
pub fn ca_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("ca.crt"), dir.join("ca.key"))
}

/// Creates the CA in `dir` unless it exists; `true` when it was created now.
pub fn init(dir: &Path) -> Result<bool, CertError> {
    let (crt, key) = ca_paths(dir);
    if key.exists() {
        if !crt.exists() {
            let key_pair = read_key(&key)?;
            write_file(&crt, ca_params().self_signed(&key_pair)?.pem().as_bytes(), 0o644)?;
        }
        return Ok(false);
    }
    if crt.exists() {
        return Err(CertError::MissingKey(crt));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| CertError::Io { path: dir.to_path_buf(), source })?;
    let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let cert = ca_params().self_signed(&key_pair)?;
    write_file(&key, key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_file(&crt, cert.pem().as_bytes(), 0o644)?;
    Ok(true)
}

impl CertStore {
    /// Loads the CA from `dir`, creating it first if missing, with a leaf cache of `cache_size` hosts.
    pub fn open(dir: &Path, cache_size: NonZeroU64) -> Result<CertStore, CertError> {
        init(dir)?;
        let (crt, key) = ca_paths(dir);
        let ca_key = read_key(&key)?;
        let ca_pem =
            crate::files::read_to_string(&crt).map_err(|source| CertError::Io { path: crt, source })?;
        let ca = ca_params().self_signed(&ca_key)?;
        Ok(CertStore {
            ca_pem,
            ca,
            ca_key,
            leaves: moka::sync::Cache::builder()
                .max_capacity(cache_size.get())
                .time_to_live(LEAF_CACHE_TTL)
                .build(),
            mints: AtomicU64::new(0),
            sessions: ServerSessionMemoryCache::new(1024),
        })
    }

    /// The CA certificate as saved in `ca.crt`, for clients to trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// How many leaves were minted since start for a client's handshake, not counting those minted ahead
    /// by [`CertStore::premint`] (a host minted twice would show here).
    pub fn mints(&self) -> u64 {
        self.mints.load(Ordering::Relaxed)
    }

    /// The TLS server configuration presenting a leaf for `host`; the flag is `true` on a cache hit.
    pub fn server_config(&self, host: &str) -> Result<(Arc<ServerConfig>, bool), Arc<CertError>> {
        let mut minted = false;
        let config = self.leaves.try_get_with_by_ref(host, || {
            minted = true;
            self.mint(host)
        })?;
        Ok((config, !minted))
    }

    /// Mints the leaves for `hosts` now, before any client asks (see `premint`); logs how long it took.
    pub fn premint(&self, hosts: &[String]) -> Result<(), CertError> {
        let start = std::time::Instant::now();
        for host in hosts {
            self.leaves.insert(host.clone(), self.build(host)?);
        }
        let elapsed = start.elapsed();
        tracing::info!(leaves = hosts.len(), "minted the leaves for the configured names in {elapsed:?}");
        Ok(())
    }

    fn mint(&self, host: &str) -> Result<Arc<ServerConfig>, CertError> {
        let config = self.build(host)?;
        self.mints.fetch_add(1, Ordering::Relaxed);
        Ok(config)
    }

    /// A fresh P-256 key and a leaf for `host` signed by the CA, as a rustls server configuration.
    fn build(&self, host: &str) -> Result<Arc<ServerConfig>, CertError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec![host.to_string()])?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, host);
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(LEAF_DAYS);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let leaf = params.signed_by(&key, &self.ca, &self.ca_key)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
        let mut config = ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key_der)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.session_storage = Arc::clone(&self.sessions);
        Ok(Arc::new(config))
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.distinguished_name.push(DnType::OrganizationName, "vpce-proxy");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    params
}

fn read_key(path: &Path) -> Result<KeyPair, CertError> {
    let pem =
        crate::files::read_to_string(path).map_err(|source| CertError::Io { path: path.into(), source })?;
    KeyPair::from_pem(&pem).map_err(|source| CertError::BadKey { path: path.into(), source })
}

/// Creates `path` (never overwriting) with `mode` from the first byte on.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), CertError> {
    crate::files::create_new(path, contents, mode)
        .map_err(|source| CertError::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn ca_key_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("certs");
        assert!(init(&ca_dir).unwrap());
        assert!(!init(&ca_dir).unwrap());
        let mode = std::fs::metadata(ca_dir.join("ca.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let first = std::fs::read_to_string(ca_dir.join("ca.crt")).unwrap();
        let store = CertStore::open(&ca_dir, NonZeroU64::new(4).unwrap()).unwrap();
        assert_eq!(store.ca_pem(), first);
    }

    #[test]
    fn certificate_without_key_is_an_error_not_a_silent_new_ca() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "x").unwrap();
        assert!(matches!(init(dir.path()), Err(CertError::MissingKey(_))));
    }

    #[test]
    fn second_lookup_is_a_cache_hit() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::open(dir.path(), NonZeroU64::new(4).unwrap()).unwrap();
        let (_, hit) = store.server_config("api.ecr.us-east-1.amazonaws.com").unwrap();
        assert!(!hit);
        let (config, hit) = store.server_config("api.ecr.us-east-1.amazonaws.com").unwrap();
        assert!(hit);
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(store.mints(), 1);
    }

    #[test]
    fn a_preminted_host_is_a_hit_on_its_first_handshake() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::open(dir.path(), NonZeroU64::new(4).unwrap()).unwrap();
        store.premint(&["api.ecr.us-east-1.amazonaws.com".to_string()]).unwrap();
        let (_, hit) = store.server_config("api.ecr.us-east-1.amazonaws.com").unwrap();
        assert!(hit, "minted at start, not in the handshake");
        assert_eq!(store.mints(), 0, "only handshake mints are counted");
    }
}
