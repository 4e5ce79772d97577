//! The backend chosen at run time from a datastore endpoint.

use crate::{
    EtcdStore, KeyValue, ListOptions, ListResult, MemoryStore, Revision, SqliteStore, Store,
    StoreError, WatchStream,
};

/// One of the backends, picked by [`AnyStore::open`].
#[derive(Clone)]
pub enum AnyStore {
    Memory(MemoryStore),
    Sqlite(SqliteStore),
    Etcd(EtcdStore),
}

impl AnyStore {
    /// Opens the store an endpoint names: `sqlite:///abs/path/state.db`,
    /// `memory://`, or `http(s)://host:port[,http(s)://host2:port…]` for etcd.
    pub async fn open(endpoint: &str) -> Result<AnyStore, StoreError> {
        let endpoint = endpoint.trim();
        if let Some(path) = endpoint.strip_prefix("sqlite://") {
            if !path.starts_with('/') {
                return Err(StoreError::Other(format!(
                    "sqlite endpoint needs an absolute path: {endpoint}"
                )));
            }
            let path = path.to_owned();
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(path))
                .await
                .map_err(|e| StoreError::Other(format!("opening sqlite failed: {e}")))??;
            return Ok(AnyStore::Sqlite(store));
        }
        if endpoint == "memory://" || endpoint == "memory:" {
            return Ok(AnyStore::Memory(MemoryStore::new()));
        }
        if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
            let endpoints: Vec<String> = endpoint
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(bad) = endpoints
                .iter()
                .find(|e| !e.starts_with("http://") && !e.starts_with("https://"))
            {
                return Err(StoreError::Other(format!("not an etcd endpoint: {bad}")));
            }
            return Ok(AnyStore::Etcd(EtcdStore::connect(&endpoints).await?));
        }
        Err(StoreError::Other(format!(
            "unsupported datastore endpoint {endpoint:?} (want sqlite:///path, memory:// or http(s)://host:port)"
        )))
    }
}

/// Calls the same method on whichever backend this is.
macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Memory($store) => $call.await,
            AnyStore::Sqlite($store) => $call.await,
            AnyStore::Etcd($store) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        delegate!(self, s => s.get(key))
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult, StoreError> {
        delegate!(self, s => s.list(prefix, opts))
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision, StoreError> {
        delegate!(self, s => s.create(key, value))
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        delegate!(self, s => s.update(key, value, expected))
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(Revision, KeyValue), StoreError> {
        delegate!(self, s => s.delete(key, expected))
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        delegate!(self, s => s.watch(prefix, after))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        delegate!(self, s => s.compact(revision))
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        delegate!(self, s => s.current_revision())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_memory_and_sqlite() {
        assert!(matches!(
            AnyStore::open("memory://").await.unwrap(),
            AnyStore::Memory(_)
        ));
        let dir = tempfile::tempdir().unwrap();
        let endpoint = format!("sqlite://{}/state.db", dir.path().display());
        assert!(matches!(
            AnyStore::open(&endpoint).await.unwrap(),
            AnyStore::Sqlite(_)
        ));
    }

    #[tokio::test]
    async fn rejects_unknown_endpoints() {
        assert!(AnyStore::open("mysql://x").await.is_err());
        assert!(AnyStore::open("sqlite://relative.db").await.is_err());
        assert!(AnyStore::open("http://a:1,ftp://b").await.is_err());
    }
}
