//! A short-lived, per-process cache of looked-up sessions.
//!
//! Every authenticated request needs its session, account and grants. Reading them costs a
//! database round trip, which on SQLite (a worker thread per connection) bounds the whole
//! server. The cache keeps a lookup for a short time (`Settings::session_cache`, 1 s by
//! default; zero turns it off).
//!
//! What stays exact: expiry is checked on every request; every revocation, role change,
//! password change, disable, language or second-factor change made through this process
//! drops the affected entries at once. What may lag: a change made by *another* process
//! (a second server on the same PostgreSQL, or `linli user disable` on the command line)
//! is seen here within the cache's lifetime.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use linli_store::auth::AccountGrants;
use linli_store::sessions::SessionRow;
use uuid::Uuid;

/// Bound on entries; past it, stale ones are swept and, if that is not enough, all go.
const MAX_ENTRIES: usize = 50_000;

struct Entry {
    loaded: Instant,
    session: SessionRow,
    grants: AccountGrants,
}

pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<Vec<u8>, Entry>>,
    /// Bumped by every invalidation. A lookup that started before an invalidation must not
    /// put what it read back into the cache: the read may predate the revocation.
    epoch: AtomicU64,
    /// Sessions whose expiry is being slid forward right now (see [`SessionCache::start_touch`]).
    touching: Mutex<std::collections::HashSet<Vec<u8>>>,
}

impl SessionCache {
    pub fn new(ttl: Duration) -> SessionCache {
        SessionCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            touching: Mutex::new(std::collections::HashSet::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Entry>> {
        // A panic while holding the lock cannot leave an entry half-written: recover it.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, token_hash: &[u8]) -> Option<(SessionRow, AccountGrants)> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries();
        let entry = entries.get(token_hash)?;
        (entry.loaded.elapsed() < self.ttl).then(|| (entry.session.clone(), entry.grants.clone()))
    }

    /// Claims the one background touch of a session: `false` if one is already under way
    /// (it may be waiting behind a long write, such as a large import).
    pub fn start_touch(&self, token_hash: &[u8]) -> bool {
        let mut touching = self.touching.lock().unwrap_or_else(|p| p.into_inner());
        touching.insert(token_hash.to_vec())
    }

    pub fn end_touch(&self, token_hash: &[u8]) {
        let mut touching = self.touching.lock().unwrap_or_else(|p| p.into_inner());
        touching.remove(token_hash);
    }

    /// Read before looking a session up in the database; pass it to [`SessionCache::put`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Caches a lookup, unless something was invalidated since `epoch` was read.
    pub fn put(&self, token_hash: &[u8], session: &SessionRow, grants: &AccountGrants, epoch: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, e| e.loaded.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            token_hash.to_vec(),
            Entry {
                loaded: Instant::now(),
                session: session.clone(),
                grants: grants.clone(),
            },
        );
    }

    pub fn forget(&self, token_hash: &[u8]) {
        let mut entries = self.entries();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        entries.remove(token_hash);
    }

    /// Drops every cached session of an account (after anything about it changed).
    pub fn forget_account(&self, account_id: Uuid) {
        let mut entries = self.entries();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, e| e.session.account_id != account_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn row(account: Uuid) -> SessionRow {
        SessionRow {
            account_id: account,
            kind: "api".into(),
            csrf_token: "c".into(),
            created_at: Utc::now(),
            last_seen_at: Utc::now(),
            expires_at: Utc::now(),
            revoked_at: None,
            username: "u".into(),
            display_name: "u".into(),
            locale: "zh-CN".into(),
            home_community_id: None,
            totp_enabled: false,
            disabled_at: None,
        }
    }

    #[test]
    fn entries_expire_and_are_dropped_per_session_or_account() {
        let cache = SessionCache::new(Duration::from_millis(50));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        cache.put(b"t1", &row(a), &AccountGrants::default(), cache.epoch());
        cache.put(b"t2", &row(a), &AccountGrants::default(), cache.epoch());
        cache.put(b"t3", &row(b), &AccountGrants::default(), cache.epoch());
        assert!(cache.get(b"t1").is_some());
        cache.forget(b"t1");
        assert!(cache.get(b"t1").is_none());
        cache.forget_account(a);
        assert!(cache.get(b"t2").is_none());
        assert!(
            cache.get(b"t3").is_some(),
            "other accounts keep their entries"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(b"t3").is_none(), "entries expire");
    }

    #[test]
    fn a_lookup_that_straddles_an_invalidation_is_not_cached() {
        let cache = SessionCache::new(Duration::from_secs(5));
        let account = Uuid::now_v7();
        let before = cache.epoch();
        // ...the database read happens here, then the session is revoked...
        cache.forget_account(account);
        cache.put(b"t", &row(account), &AccountGrants::default(), before);
        assert!(
            cache.get(b"t").is_none(),
            "a read older than the revocation is not kept"
        );
    }

    #[test]
    fn a_zero_lifetime_caches_nothing() {
        let cache = SessionCache::new(Duration::ZERO);
        cache.put(
            b"t",
            &row(Uuid::now_v7()),
            &AccountGrants::default(),
            cache.epoch(),
        );
        assert!(cache.get(b"t").is_none());
    }
}
