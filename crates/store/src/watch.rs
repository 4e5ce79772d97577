//! Watch plumbing shared by the in-process backends: catch up from history, then follow live events.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;

use crate::{Revision, StoreError, WatchEvent, WatchStream};

/// The events of one committed write batch, in revision order.
pub(crate) type EventBatch = Arc<[WatchEvent]>;

/// How many events a catch-up read fetches at a time.
const CATCH_UP_PAGE: usize = 1000;

/// How many events may wait in a watch stream before its task stops reading.
const STREAM_BUFFER: usize = 256;

/// How many committed batches the live broadcast holds for slow watchers.
pub(crate) const BROADCAST_CAPACITY: usize = 4096;

/// The committed history a watcher catches up from.
pub(crate) trait History: Send + Sync + 'static {
    /// Up to `limit` events under `prefix` with revision greater than `after`, in
    /// revision order; `Compacted` if `after` is older than the compacted revision.
    fn events_after(
        &self,
        prefix: &str,
        after: Revision,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<WatchEvent>, StoreError>> + Send;
}

/// Starts a watch task. `live` must have been subscribed before this call's
/// catch-up read can start, so that no committed event falls between the two.
pub(crate) fn spawn_watch<H: History>(
    history: Arc<H>,
    prefix: String,
    after: Revision,
    live: broadcast::Receiver<EventBatch>,
) -> WatchStream {
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    let span = tracing::debug_span!("watch", prefix = %prefix, after);
    tokio::spawn(run(history, prefix, after, live, tx).instrument(span));
    Box::pin(ReceiverStream::new(rx))
}

type Sink = mpsc::Sender<Result<WatchEvent, StoreError>>;

async fn run<H: History>(
    history: Arc<H>,
    prefix: String,
    after: Revision,
    mut live: broadcast::Receiver<EventBatch>,
    tx: Sink,
) {
    let mut last = after;
    loop {
        if !catch_up(&*history, &prefix, &mut last, &tx).await {
            return;
        }
        match follow(&prefix, &mut last, &mut live, &tx).await {
            Follow::Lagged => continue,
            Follow::Done => return,
        }
    }
}

/// Sends every stored event after `last`; false if the watch is over.
async fn catch_up<H: History>(history: &H, prefix: &str, last: &mut Revision, tx: &Sink) -> bool {
    loop {
        let page = match history.events_after(prefix, *last, CATCH_UP_PAGE).await {
            Ok(page) => page,
            Err(error) => {
                tracing::debug!(error = %error, "watch ends");
                let _ = tx.send(Err(error)).await;
                return false;
            }
        };
        let full = page.len() >= CATCH_UP_PAGE;
        for event in page {
            *last = event.revision();
            if tx.send(Ok(event)).await.is_err() {
                return false;
            }
        }
        if !full {
            return true;
        }
    }
}

enum Follow {
    Lagged,
    Done,
}

/// Forwards live events newer than `last` until the watcher lags or goes away.
async fn follow(
    prefix: &str,
    last: &mut Revision,
    live: &mut broadcast::Receiver<EventBatch>,
    tx: &Sink,
) -> Follow {
    loop {
        let received = tokio::select! {
            _ = tx.closed() => return Follow::Done,
            received = live.recv() => received,
        };
        match received {
            Ok(batch) => {
                for event in batch.iter() {
                    if event.revision() <= *last || !event.key().starts_with(prefix) {
                        continue;
                    }
                    *last = event.revision();
                    if tx.send(Ok(event.clone())).await.is_err() {
                        return Follow::Done;
                    }
                }
            }
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                tracing::debug!(skipped, last = *last, "watcher lagged; re-reading history");
                return Follow::Lagged;
            }
            Err(broadcast::error::RecvError::Closed) => return Follow::Done,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;
    use futures::StreamExt;

    use super::*;
    use crate::KeyValue;

    /// A fixed history standing in for a backend's log.
    struct Log(Vec<WatchEvent>);

    impl History for Log {
        async fn events_after(
            &self,
            prefix: &str,
            after: Revision,
            limit: usize,
        ) -> Result<Vec<WatchEvent>, StoreError> {
            Ok(self
                .0
                .iter()
                .filter(|e| e.revision() > after && e.key().starts_with(prefix))
                .take(limit)
                .cloned()
                .collect())
        }
    }

    fn put(revision: Revision) -> WatchEvent {
        let key = format!("/k/{revision}");
        let kv = KeyValue {
            key,
            value: Bytes::new(),
            create_revision: revision,
            mod_revision: revision,
        };
        WatchEvent::Put { kv, prev: None }
    }

    #[tokio::test]
    async fn lagging_watcher_recovers_from_history() {
        let events: Vec<WatchEvent> = (1..=3000).map(put).collect();
        let (tx, rx) = broadcast::channel(4);
        // History knows the first 2000; the broadcast carries everything after 10,
        // far more than its capacity, before the watcher reads anything.
        let history = Arc::new(Log(events[..2000].to_vec()));
        let mut watch = spawn_watch(history, "/k/".into(), 0, rx);
        for event in &events[10..] {
            let _ = tx.send(EventBatch::from(vec![event.clone()]));
        }
        let mut seen = Vec::new();
        while seen.len() < 2000 {
            seen.push(watch.next().await.unwrap().unwrap().revision());
        }
        assert_eq!(seen, (1..=2000).collect::<Vec<_>>());
        // The broadcast kept only the last few; those arrive after the history, no duplicates.
        let next = watch.next().await.unwrap().unwrap().revision();
        assert!(next > 2000, "got {next}");
    }

    #[tokio::test]
    async fn watch_ends_when_store_closes() {
        let (tx, rx) = broadcast::channel(4);
        let mut watch = spawn_watch(Arc::new(Log(vec![])), "/".into(), 0, rx);
        tx.send(EventBatch::from(vec![put(1)])).unwrap();
        assert_eq!(watch.next().await.unwrap().unwrap().revision(), 1);
        drop(tx);
        assert!(watch.next().await.is_none());
    }
}
