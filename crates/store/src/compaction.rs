//! Automatic compaction policy the server can drive: keep the last N revisions or the last T of history.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::{Revision, Store, StoreError};

/// Decides how far to compact. Call [`Compactor::tick`] periodically (say every
/// minute); like kube-apiserver, it compacts to the newest revision it saw at
/// least `retain` ago, and never closer than `keep_revisions` to the head.
#[derive(Debug)]
pub struct Compactor {
    retain: Duration,
    keep_revisions: Revision,
    seen: VecDeque<(Instant, Revision)>,
    compacted: Revision,
}

impl Compactor {
    /// Keeps at least `retain` of history and at least `keep_revisions` revisions.
    pub fn new(retain: Duration, keep_revisions: Revision) -> Self {
        Self {
            retain,
            keep_revisions,
            seen: VecDeque::new(),
            compacted: 0,
        }
    }

    /// Records the current revision and compacts if something is old enough.
    /// Returns the revision compacted at, if it compacted.
    pub async fn tick<S: Store>(&mut self, store: &S) -> Result<Option<Revision>, StoreError> {
        self.tick_at(store, Instant::now()).await
    }

    /// [`Compactor::tick`] with an explicit clock, for tests.
    pub async fn tick_at<S: Store>(
        &mut self,
        store: &S,
        now: Instant,
    ) -> Result<Option<Revision>, StoreError> {
        let current = store.current_revision().await?;
        self.seen.push_back((now, current));
        let mut target = None;
        while let Some(&(at, revision)) = self.seen.front() {
            if now.duration_since(at) < self.retain {
                break;
            }
            target = Some(revision);
            self.seen.pop_front();
        }
        let Some(target) = target.map(|t| t.min(current - self.keep_revisions)) else {
            return Ok(None);
        };
        if target <= self.compacted || target <= 0 {
            return Ok(None);
        }
        store.compact(target).await?;
        self.compacted = target;
        tracing::debug!(revision = target, "compacted store");
        Ok(Some(target))
    }
}

/// Compacts so that only the newest `keep` revisions of history remain.
pub async fn compact_keeping<S: Store>(
    store: &S,
    keep: Revision,
) -> Result<Option<Revision>, StoreError> {
    let target = store.current_revision().await? - keep;
    if target <= 0 {
        return Ok(None);
    }
    store.compact(target).await?;
    Ok(Some(target))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    #[tokio::test]
    async fn compacts_to_revision_seen_retain_ago() {
        let store = MemoryStore::new();
        let mut compactor = Compactor::new(Duration::from_secs(300), 1);
        let t0 = Instant::now();
        for i in 0..3 {
            store.create(&format!("/a/{i}"), vec![]).await.unwrap();
        }
        assert_eq!(compactor.tick_at(&store, t0).await.unwrap(), None);
        for i in 3..6 {
            store.create(&format!("/a/{i}"), vec![]).await.unwrap();
        }
        assert_eq!(
            compactor
                .tick_at(&store, t0 + Duration::from_secs(100))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            compactor
                .tick_at(&store, t0 + Duration::from_secs(301))
                .await
                .unwrap(),
            Some(3)
        );
        assert_eq!(
            compactor
                .tick_at(&store, t0 + Duration::from_secs(302))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            compactor
                .tick_at(&store, t0 + Duration::from_secs(401))
                .await
                .unwrap(),
            Some(5)
        );
    }

    #[tokio::test]
    async fn compact_keeping_leaves_the_newest() {
        let store = MemoryStore::new();
        for i in 0..10 {
            store.create(&format!("/a/{i}"), vec![]).await.unwrap();
        }
        assert_eq!(compact_keeping(&store, 4).await.unwrap(), Some(6));
        assert_eq!(compact_keeping(&store, 40).await.unwrap(), None);
    }
}
