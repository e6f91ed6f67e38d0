//! The configuration every inbound call reads (its workspace, inbound URL,
//! gateway keys and product mappings), kept in memory so a call does not
//! read it again from the database (issue 9).
//!
//! Invalidation is by generation: every change to the configuration bumps
//! it and empties the cache. A backend's own writes bump it when they end
//! ([`ConfigCache::changing`], held for the length of the write), so the
//! next call after an API change sees the change. Other instances on one
//! PostgreSQL learn of a change by `NOTIFY gancho_config`, sent by triggers
//! in the same transaction as the change; while an instance is not
//! listening (before its listener connects, after it loses the connection)
//! its cache is bypassed, never trusted. One SQLite file has one gancho
//! process, so there the in-process bump is the whole story.
//!
//! A value read from the database is kept only if no change happened while
//! it was being read (its generation is still current when it is stored),
//! so a read that raced a change cannot put the old value back.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::StoreResult;

/// More entries than this (a flood of unknown slugs, say) empties the cache.
const MAX_ENTRIES: usize = 10_000;

/// See the module doc.
#[derive(Debug)]
pub struct ConfigCache {
    entries: Mutex<Entries>,
    /// Whether cached values may be used (see [`ConfigCache::set_trusted`]).
    trusted: AtomicBool,
}

#[derive(Debug, Default)]
struct Entries {
    generation: u64,
    values: HashMap<String, Arc<dyn Any + Send + Sync>>,
}

impl ConfigCache {
    /// A cache that is used from the start (SQLite: no other writers).
    pub fn trusted() -> Self {
        Self {
            entries: Mutex::default(),
            trusted: AtomicBool::new(true),
        }
    }

    /// A cache that is bypassed until [`ConfigCache::set_trusted`] (PostgreSQL:
    /// until the change listener is connected).
    pub fn untrusted() -> Self {
        Self {
            entries: Mutex::default(),
            trusted: AtomicBool::new(false),
        }
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration changed (or may have): forget everything.
    pub fn changed(&self) {
        let mut entries = self.entries();
        entries.generation += 1;
        entries.values.clear();
    }

    /// Whether the cache hears of every change: `false` forgets everything
    /// and bypasses the cache until it is `true` again.
    pub fn set_trusted(&self, trusted: bool) {
        self.changed();
        self.trusted.store(trusted, Ordering::SeqCst);
        self.changed();
    }

    /// A guard to hold while writing the configuration: when it drops (the
    /// write committed, or failed), the cache is emptied.
    pub fn changing(&self) -> Changing<'_> {
        Changing(self)
    }

    /// The value under `key`, else what `load` reads (kept for next time).
    pub async fn get_or_load<T, F>(&self, key: String, load: F) -> StoreResult<T>
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = StoreResult<T>>,
    {
        if !self.trusted.load(Ordering::SeqCst) {
            return load.await;
        }
        let generation = {
            let entries = self.entries();
            if let Some(value) = entries.values.get(&key).and_then(|v| v.downcast_ref::<T>()) {
                return Ok(value.clone());
            }
            entries.generation
        };
        let value = load.await?;
        let mut entries = self.entries();
        if entries.generation == generation && self.trusted.load(Ordering::SeqCst) {
            if entries.values.len() >= MAX_ENTRIES {
                entries.values.clear();
            }
            entries.values.insert(key, Arc::new(value.clone()));
        }
        Ok(value)
    }
}

/// See [`ConfigCache::changing`].
#[must_use]
pub struct Changing<'a>(&'a ConfigCache);

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        self.0.changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    async fn load(reads: &AtomicUsize, value: &str) -> StoreResult<String> {
        reads.fetch_add(1, Ordering::SeqCst);
        Ok(value.to_string())
    }

    #[tokio::test]
    async fn a_value_is_read_once_until_the_configuration_changes() {
        let cache = ConfigCache::trusted();
        let reads = AtomicUsize::new(0);
        for _ in 0..3 {
            let v: String = cache
                .get_or_load("k".into(), load(&reads, "a"))
                .await
                .unwrap();
            assert_eq!(v, "a");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        drop(cache.changing());
        let v: String = cache
            .get_or_load("k".into(), load(&reads, "b"))
            .await
            .unwrap();
        assert_eq!((v.as_str(), reads.load(Ordering::SeqCst)), ("b", 2));
    }

    #[tokio::test]
    async fn a_read_that_raced_a_change_is_not_kept() {
        let cache = ConfigCache::trusted();
        let reads = AtomicUsize::new(0);
        let v: String = cache
            .get_or_load("k".into(), async {
                let old = load(&reads, "old").await;
                cache.changed(); // the change commits while the old value is in flight
                old
            })
            .await
            .unwrap();
        assert_eq!(v, "old");
        let v: String = cache
            .get_or_load("k".into(), load(&reads, "new"))
            .await
            .unwrap();
        assert_eq!(v, "new");
    }

    #[tokio::test]
    async fn an_untrusted_cache_always_reads() {
        let cache = ConfigCache::untrusted();
        let reads = AtomicUsize::new(0);
        for _ in 0..2 {
            let _: String = cache
                .get_or_load("k".into(), load(&reads, "a"))
                .await
                .unwrap();
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        cache.set_trusted(true);
        for _ in 0..2 {
            let _: String = cache
                .get_or_load("k".into(), load(&reads, "a"))
                .await
                .unwrap();
        }
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }
}
