//! What every handler shares: the database, the data key, settings and metrics.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use linli_store::Db;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

use crate::auth::session_cache::SessionCache;
use crate::cache::{AnswerCache, TtlCache};
use crate::crypto::DataKey;
use linli_store::matters::categories::CategoryRow;
use linli_store::registry::residents::Reporter;
use linli_store::tenancy::CommunityContext;
use uuid::Uuid;

/// Settings the HTTP layer needs, resolved by the binary from flags, environment and file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Mark cookies `Secure`: set when Linli is reached over HTTPS (`--public-url https://…`).
    pub secure_cookies: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy you run).
    pub trust_proxy: bool,
    /// Longest time a request may run before it is answered 503.
    pub request_timeout: Duration,
    /// Longest time a client may take to send its request headers.
    pub header_read_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a looked-up session may be reused without reading it again (see
    /// `auth::session_cache`); zero reads it on every request. The per-process caches of
    /// reference data and list answers (`cache`) live as long.
    pub session_cache: Duration,
    /// The folder of the local object store (matter photos).
    pub object_dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            secure_cookies: false,
            trust_proxy: false,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            body_limit: 64 * 1024,
            session_cache: Duration::from_secs(1),
            // A real deployment names its folder (`serve --object-dir`); this default suits
            // tests and throwaway runs.
            object_dir: std::env::temp_dir().join("linli-objects"),
        }
    }
}

pub struct StateInner {
    pub db: Db,
    pub data_key: DataKey,
    pub settings: Settings,
    pub metrics: PrometheusHandle,
    pub sessions: SessionCache,
    /// Where files (matter photos) are kept: a local folder, behind the `object_store`
    /// interface so an S3-compatible store can take its place for scale-out.
    pub objects: Arc<dyn ObjectStore>,
    /// Community contexts by id (see `cache`).
    pub communities: TtlCache<Uuid, CommunityContext>,
    /// Category catalogues by community (see `cache`).
    pub catalogues: TtlCache<Uuid, Arc<Vec<CategoryRow>>>,
    /// Points rules in force by community (see `cache`). A rule changed by another server
    /// is seen within the lifetime; meanwhile the ledger refuses awards made under the old
    /// version (`rule_changed`), so nothing is awarded under a retired rule.
    pub points_rules: TtlCache<Uuid, Arc<Vec<linli_store::points::RuleRow>>>,
    /// The resident record of a signed-in account, by (community, account): read on every
    /// report and redemption, and a link once made is not changed by any request (see
    /// `api::residents::own_resident`).
    pub own_residents: TtlCache<(Uuid, Uuid), Reporter>,
    /// Answers of the matters list and search (see `cache::AnswerCache`): dropped by any
    /// write through this process, kept at most the lifetime.
    pub matter_lists: AnswerCache,
}

#[derive(Clone)]
pub struct AppState(Arc<StateInner>);

impl Deref for AppState {
    type Target = StateInner;
    fn deref(&self) -> &StateInner {
        &self.0
    }
}

impl AppState {
    pub fn new(db: Db, data_key: DataKey, settings: Settings) -> AppState {
        let objects = local_objects(&settings.object_dir);
        AppState(Arc::new(StateInner {
            db,
            data_key,
            objects,
            communities: TtlCache::new(settings.session_cache),
            catalogues: TtlCache::new(settings.session_cache),
            points_rules: TtlCache::new(settings.session_cache),
            own_residents: TtlCache::new(settings.session_cache),
            matter_lists: AnswerCache::new(settings.session_cache),
            sessions: SessionCache::new(settings.session_cache),
            settings,
            metrics: metrics_handle(),
        }))
    }
}

/// The local object store in `dir`, created if missing. `serve` creates and checks the
/// folder first and reports a problem cleanly; reaching the panic here is a programming
/// error.
fn local_objects(dir: &Path) -> Arc<dyn ObjectStore> {
    std::fs::create_dir_all(dir).expect("the object folder can be created");
    Arc::new(LocalFileSystem::new_with_prefix(dir).expect("the object folder exists"))
}

/// The process-wide Prometheus recorder (installed once, however many servers a test starts).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}
