//! Small per-process caches of reference data that almost never changes but is read on
//! nearly every request (a community's context, its category catalogue). Entries live a
//! short time (the session cache's lifetime, 1 s by default); a change made through this
//! process drops its entry at once, one made by another server is seen within the lifetime
//! (DESIGN §1: caches are safe per process). [`AnswerCache`] keeps whole list answers on
//! the same terms.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::sync::OnceCell;

/// Bound on entries; past it everything is dropped (reference data is small).
const MAX_ENTRIES: usize = 10_000;

pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, key: &K) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries();
        let (loaded, value) = entries.get(key)?;
        (loaded.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn invalidate(&self, key: &K) {
        self.entries().remove(key);
    }
}

/// Bound on kept answers; past it the stale ones are dropped, then all (an answer is a
/// page of up to a few hundred rows, so this bounds the cache to tens of megabytes).
const MAX_ANSWERS: usize = 512;

/// Serialised answers of read-mostly lists (the matters list and its search), shared by
/// every caller who asks the same question with the same reach.
///
/// A community's matters change a few hundred times a day and are listed far more often
/// (queues left open, boards refreshed), and on PostgreSQL a list costs two round trips
/// and about 0.6 ms of CPU between the two processes. An answer is served again only
/// while nothing has been written through this process since it was read (any request
/// that is not GET, HEAD or OPTIONS, and the supervision sweep, call [`written`]) and
/// for at most the lifetime, so a write made by another server or by the command line
/// is seen within it, as with the other caches here. Callers that ask while an answer is
/// being read wait for that one read instead of starting their own.
///
/// An answer past half its lifetime is read again by the first caller who asks for it,
/// while the others are still served the kept one (see [`Slot::Refresh`]).
///
/// Why: without it, every caller who asked once the lifetime ended waited for the one read
/// again, each second for each question asked all the time. For a search that matches
/// most of a community (about 35 ms to read on PostgreSQL), all 64 connections of a load
/// run stopped for those 35 ms every second, and the run's p99 was 19–32 ms; with one
/// caller reading ahead, 5.0–12.6 ms (docs/benchmarks.md, Matters, sixteenth session).
///
/// [`written`]: AnswerCache::written
pub struct AnswerCache {
    ttl: Duration,
    generation: AtomicU64,
    answers: Mutex<HashMap<String, Answer>>,
}

struct Answer {
    asked: Instant,
    generation: u64,
    body: Arc<OnceCell<Bytes>>,
    /// A caller is reading this answer again (past half its lifetime). If that caller
    /// goes away mid-read the flag stays set, and the answer lives out its lifetime as
    /// before this existed.
    refreshing: bool,
}

/// What a caller does for an answer.
enum Slot {
    /// Wait for this answer (kept, or being read by another caller) or read it.
    Serve(Arc<OnceCell<Bytes>>),
    /// Read the answer again while other callers are served the kept one, and keep the
    /// new one in its place: `kept` is the answer this read replaces, `asked` and
    /// `generation` are this read's own.
    Refresh {
        kept: Arc<OnceCell<Bytes>>,
        asked: Instant,
        generation: u64,
    },
}

impl AnswerCache {
    pub fn new(ttl: Duration) -> Self {
        AnswerCache {
            ttl,
            generation: AtomicU64::new(0),
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// Something was written through this process: no answer read before now is served
    /// again.
    pub fn written(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The answer kept for `key`, or the one `read` gives (kept if it succeeds). An error
    /// is not kept: the next caller reads again.
    pub async fn get_or_read<E, F, Fut>(&self, key: String, read: F) -> Result<Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        if self.ttl.is_zero() {
            return read().await;
        }
        match self.slot(&key) {
            Slot::Serve(body) => body.get_or_try_init(read).await.cloned(),
            Slot::Refresh {
                kept,
                asked,
                generation,
            } => {
                let read = read().await;
                self.refreshed(&key, &kept, asked, generation, read.as_ref().ok());
                read
            }
        }
    }

    /// The slot for `key`: the current one, a new empty one, or a refresh of the current
    /// one. The generation is taken before the read starts, so an answer read across a
    /// write is never served after it.
    fn slot(&self, key: &str) -> Slot {
        let generation = self.generation.load(Ordering::Acquire);
        let mut answers = self.answers();
        let fresh = |a: &Answer| a.generation == generation && a.asked.elapsed() < self.ttl;
        if let Some(answer) = answers.get_mut(key)
            && fresh(answer)
        {
            let past_half = answer.asked.elapsed() >= self.ttl / 2;
            if past_half && !answer.refreshing && answer.body.initialized() {
                answer.refreshing = true;
                return Slot::Refresh {
                    kept: answer.body.clone(),
                    asked: Instant::now(),
                    generation,
                };
            }
            return Slot::Serve(answer.body.clone());
        }
        if answers.len() >= MAX_ANSWERS {
            answers.retain(|_, a| fresh(a));
            if answers.len() >= MAX_ANSWERS {
                answers.clear();
            }
        }
        let body = Arc::new(OnceCell::new());
        answers.insert(
            key.to_owned(),
            Answer {
                asked: Instant::now(),
                generation,
                body: body.clone(),
                refreshing: false,
            },
        );
        Slot::Serve(body)
    }

    /// A refresh of `key` ended: its answer takes the place of `kept` (unless `kept` was
    /// replaced meanwhile); after a failed read, the next caller past half the lifetime
    /// tries again.
    fn refreshed(
        &self,
        key: &str,
        kept: &Arc<OnceCell<Bytes>>,
        asked: Instant,
        generation: u64,
        read: Option<&Bytes>,
    ) {
        let mut answers = self.answers();
        let Some(answer) = answers.get_mut(key) else {
            return;
        };
        if !Arc::ptr_eq(&answer.body, kept) {
            return;
        }
        match read {
            Some(body) => {
                *answer = Answer {
                    asked,
                    generation,
                    body: Arc::new(OnceCell::new_with(Some(body.clone()))),
                    refreshing: false,
                }
            }
            None => answer.refreshing = false,
        }
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Answer>> {
        self.answers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_dropped() {
        let cache = TtlCache::new(Duration::from_millis(50));
        cache.put(1, "a");
        assert_eq!(cache.get(&1), Some("a"));
        cache.invalidate(&1);
        assert_eq!(cache.get(&1), None);
        cache.put(2, "b");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&2), None, "expired");
        let off = TtlCache::new(Duration::ZERO);
        off.put(1, "a");
        assert_eq!(off.get(&1), None, "a zero lifetime caches nothing");
    }

    fn answer(text: &'static str) -> Result<Bytes, ()> {
        Ok(Bytes::from_static(text.as_bytes()))
    }

    #[tokio::test]
    async fn answers_are_read_again_after_a_write_or_the_lifetime() {
        let cache = AnswerCache::new(Duration::from_millis(80));
        let key = || "list".to_owned();
        assert_eq!(
            cache.get_or_read(key(), || async { answer("a") }).await,
            answer("a")
        );
        assert_eq!(
            cache.get_or_read(key(), || async { answer("b") }).await,
            answer("a"),
            "kept while nothing was written"
        );
        assert_eq!(
            cache
                .get_or_read("other".to_owned(), || async { answer("x") })
                .await,
            answer("x"),
            "another question has an answer of its own"
        );
        cache.written();
        assert_eq!(
            cache.get_or_read(key(), || async { answer("c") }).await,
            answer("c"),
            "a write drops every answer read before it"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            cache.get_or_read(key(), || async { answer("d") }).await,
            answer("d"),
            "an answer is not kept past the lifetime"
        );
        let failed: Result<Bytes, &str> = cache
            .get_or_read("e".to_owned(), || async { Err("down") })
            .await;
        assert_eq!(failed, Err("down"));
        assert_eq!(
            cache
                .get_or_read("e".to_owned(), || async { answer("e") })
                .await,
            answer("e"),
            "an error is not kept"
        );
        let off = AnswerCache::new(Duration::ZERO);
        off.get_or_read(key(), || async { answer("a") })
            .await
            .unwrap();
        assert_eq!(
            off.get_or_read(key(), || async { answer("b") }).await,
            answer("b")
        );
    }

    #[tokio::test]
    async fn a_write_during_a_read_keeps_its_answer_from_later_callers() {
        let cache = Arc::new(AnswerCache::new(Duration::from_secs(60)));
        let (reader, finish_tx) = held_read(&cache, answer("before the write")).await;
        cache.written();
        finish_tx.send(()).unwrap();
        assert_eq!(reader.await.unwrap(), answer("before the write"));
        assert_eq!(
            cache
                .get_or_read("list".to_owned(), || async { answer("after") })
                .await,
            answer("after")
        );
    }

    #[tokio::test]
    async fn callers_asking_together_share_one_read() {
        let cache = Arc::new(AnswerCache::new(Duration::from_secs(60)));
        let reads = Arc::new(AtomicU64::new(0));
        let callers: Vec<_> = (0..16)
            .map(|_| {
                let (cache, reads) = (cache.clone(), reads.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_read("search".to_owned(), || async move {
                            reads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            answer("hits")
                        })
                        .await
                })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), answer("hits"));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    /// Starts a caller whose read of "list" waits for the returned sender; answers once
    /// its read has started.
    async fn held_read(
        cache: &Arc<AnswerCache>,
        read: Result<Bytes, ()>,
    ) -> (
        tokio::task::JoinHandle<Result<Bytes, ()>>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
        let caller = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_read("list".to_owned(), || async move {
                        started_tx.send(()).unwrap();
                        finish_rx.await.unwrap();
                        read
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        (caller, finish_tx)
    }

    async fn kept(cache: &AnswerCache) -> Result<Bytes, ()> {
        cache
            .get_or_read("list".to_owned(), || async { answer("read now") })
            .await
    }

    #[tokio::test]
    async fn past_half_its_lifetime_one_caller_reads_an_answer_again_while_the_rest_are_served() {
        let cache = Arc::new(AnswerCache::new(Duration::from_secs(2)));
        assert_eq!(
            cache
                .get_or_read("list".to_owned(), || async { answer("a") })
                .await,
            answer("a")
        );
        assert_eq!(kept(&cache).await, answer("a"), "young: kept, not read");
        tokio::time::sleep(Duration::from_millis(1100)).await;

        let (refresher, finish) = held_read(&cache, answer("b")).await;
        assert_eq!(
            kept(&cache).await,
            answer("a"),
            "while one caller reads again, the others are served the kept answer"
        );
        finish.send(()).unwrap();
        assert_eq!(refresher.await.unwrap(), answer("b"));
        assert_eq!(
            kept(&cache).await,
            answer("b"),
            "the new answer takes the kept one's place, with a lifetime of its own"
        );

        let (failed, finish) = {
            tokio::time::sleep(Duration::from_millis(1100)).await;
            held_read(&cache, Err(())).await
        };
        assert_eq!(kept(&cache).await, answer("b"));
        finish.send(()).unwrap();
        assert_eq!(
            failed.await.unwrap(),
            Err(()),
            "a failed read answers its caller"
        );
        let (refresher, finish) = held_read(&cache, answer("c")).await;
        finish.send(()).unwrap();
        assert_eq!(
            refresher.await.unwrap(),
            answer("c"),
            "after a failed read the next caller reads again"
        );
        assert_eq!(kept(&cache).await, answer("c"));
    }

    #[tokio::test]
    async fn an_answer_read_again_across_a_write_is_not_kept() {
        let cache = Arc::new(AnswerCache::new(Duration::from_secs(2)));
        cache
            .get_or_read("list".to_owned(), || async { answer("a") })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (refresher, finish) = held_read(&cache, answer("before the write")).await;
        cache.written();
        finish.send(()).unwrap();
        assert_eq!(refresher.await.unwrap(), answer("before the write"));
        assert_eq!(
            kept(&cache).await,
            answer("read now"),
            "neither the kept answer nor the one read across the write is served after it"
        );
    }
}
