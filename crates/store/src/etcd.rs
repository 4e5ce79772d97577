//! The etcd v3 backend: etcd's own revisions, transactions for preconditions, native watch.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, DeleteOptions, EventType, GetOptions, KvClient,
    TxnOp, TxnOpResponse, TxnResponse, WatchOptions,
};
use futures::stream;

use crate::etcd_channel::{self, Settings};
use crate::keys::{prefix_end, range_start};
use crate::{
    KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchEvent, WatchStream,
};

/// How the connection to etcd is made and kept.
const SETTINGS: Settings = Settings {
    connect_timeout: Duration::from_secs(5),
    keep_alive: Duration::from_secs(10),
};

/// Largest response we accept (a list of every object of a big resource).
const MAX_MESSAGE: usize = 1 << 30;

/// A store backed by an etcd cluster.
#[derive(Clone)]
pub struct EtcdStore {
    inner: Arc<Inner>,
    endpoints: Vec<String>,
}

struct Inner {
    client: Client,
    /// The KV client, set up once; calls use a clone (they need `&mut`).
    kv: KvClient,
}

impl EtcdStore {
    /// Connects to the given endpoints (`http://127.0.0.1:2379`, …). The connection
    /// opens on first use, to the first endpoint that answers.
    pub async fn connect(endpoints: &[String]) -> Result<Self, StoreError> {
        let channel = etcd_channel::channel(endpoints, SETTINGS)?;
        let client = Client::from_channel(channel, None).await?;
        tracing::info!(endpoints = ?endpoints, "using etcd");
        let kv = client.kv_client().max_decoding_message_size(MAX_MESSAGE);
        Ok(Self {
            inner: Arc::new(Inner { client, kv }),
            endpoints: endpoints.to_vec(),
        })
    }

    /// The endpoints this store talks to.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    fn kv(&self) -> KvClient {
        self.inner.kv.clone()
    }

    async fn txn(&self, txn: etcd_client::Txn) -> Result<TxnResponse, StoreError> {
        self.kv().txn(txn).await.map_err(map_error)
    }
}

/// etcd's range end for everything under `prefix` ("\0" means "to the end").
fn range_end(prefix: &str) -> Vec<u8> {
    let end = prefix_end(prefix.as_bytes());
    if end.is_empty() { vec![0] } else { end }
}

/// Maps etcd's "compacted" / "future revision" failures to ours.
fn map_error(error: etcd_client::Error) -> StoreError {
    if let etcd_client::Error::GRpcStatus(status) = &error {
        if status
            .message()
            .contains("required revision has been compacted")
        {
            return StoreError::Compacted {
                requested: 0,
                compacted: 0,
            };
        }
        if status
            .message()
            .contains("required revision is a future revision")
        {
            return StoreError::FutureRevision {
                requested: 0,
                current: 0,
            };
        }
    }
    StoreError::Etcd(error)
}

fn to_kv(kv: &etcd_client::KeyValue) -> Result<KeyValue, StoreError> {
    Ok(KeyValue {
        key: kv.key_str()?.to_owned(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    })
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision, StoreError> {
    header
        .map(|h| h.revision())
        .ok_or_else(|| StoreError::Other("etcd response without header".into()))
}

/// The key a failed transaction's `get` branch found, if any.
fn found(response: &TxnResponse) -> Result<Option<KeyValue>, StoreError> {
    for op in response.op_responses() {
        if let TxnOpResponse::Get(get) = op {
            return get.kvs().first().map(to_kv).transpose();
        }
    }
    Ok(None)
}

/// Why a conditional write on an existing key was refused.
fn refused(
    key: &str,
    expected: Revision,
    response: &TxnResponse,
) -> Result<StoreError, StoreError> {
    Ok(match found(response)? {
        None => StoreError::NotFound {
            key: key.to_owned(),
        },
        Some(kv) => StoreError::Conflict {
            key: key.to_owned(),
            expected,
            actual: kv.mod_revision,
        },
    })
}

impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let response = self.kv().get(key, None).await.map_err(map_error)?;
        response.kvs().first().map(to_kv).transpose()
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult, StoreError> {
        let start = range_start(prefix, opts.start_after.as_deref());
        let mut options = GetOptions::new().with_range(range_end(prefix));
        if opts.revision > 0 {
            options = options.with_revision(opts.revision);
        }
        if opts.limit > 0 {
            options = options.with_limit(i64::try_from(opts.limit).unwrap_or(i64::MAX));
        }
        let response = match self.kv().get(start, Some(options)).await.map_err(map_error) {
            Ok(response) => response,
            // etcd does not say how far it compacted; 0 stands for "unknown".
            Err(StoreError::Compacted { .. }) => {
                return Err(StoreError::Compacted {
                    requested: opts.revision,
                    compacted: 0,
                });
            }
            Err(StoreError::FutureRevision { .. }) => {
                let current = self.current_revision().await?;
                return Err(StoreError::FutureRevision {
                    requested: opts.revision,
                    current,
                });
            }
            Err(error) => return Err(error),
        };
        let revision = if opts.revision > 0 {
            opts.revision
        } else {
            header_revision(response.header())?
        };
        let items = response
            .kvs()
            .iter()
            .map(to_kv)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ListResult {
            items,
            revision,
            more: response.more(),
        })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision, StoreError> {
        let txn = etcd_client::Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value, None)]);
        let response = self.txn(txn).await?;
        if !response.succeeded() {
            return Err(StoreError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        header_revision(response.header())
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        let txn = etcd_client::Txn::new()
            .when([
                Compare::create_revision(key, CompareOp::Greater, 0),
                Compare::mod_revision(key, CompareOp::Equal, expected),
            ])
            .and_then([TxnOp::put(key, value, None)])
            .or_else([TxnOp::get(key, None)]);
        let response = self.txn(txn).await?;
        if !response.succeeded() {
            return Err(refused(key, expected, &response)?);
        }
        header_revision(response.header())
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(Revision, KeyValue), StoreError> {
        let mut compares = vec![Compare::create_revision(key, CompareOp::Greater, 0)];
        if let Some(expected) = expected {
            compares.push(Compare::mod_revision(key, CompareOp::Equal, expected));
        }
        let txn = etcd_client::Txn::new()
            .when(compares)
            .and_then([TxnOp::delete(
                key,
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key, None)]);
        let response = self.txn(txn).await?;
        if !response.succeeded() {
            return Err(refused(key, expected.unwrap_or(0), &response)?);
        }
        let prev = response.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Delete(delete) => delete.prev_kvs().first().map(to_kv),
            _ => None,
        });
        let prev = prev.ok_or_else(|| StoreError::NotFound {
            key: key.to_owned(),
        })??;
        Ok((header_revision(response.header())?, prev))
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        let options = WatchOptions::new()
            .with_range(range_end(prefix))
            .with_start_revision(after + 1)
            .with_prev_key();
        let watch = self
            .inner
            .client
            .watch_client()
            .max_decoding_message_size(MAX_MESSAGE)
            .watch(prefix, Some(options))
            .await?;
        let state = WatchState {
            watch,
            pending: VecDeque::new(),
            after,
            done: false,
        };
        Ok(Box::pin(stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        })))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let current = self.current_revision().await?;
        if revision > current {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current,
            });
        }
        match self
            .kv()
            .compact(revision, Some(CompactionOptions::new().with_physical()))
            .await
            .map_err(map_error)
        {
            // Compacting again at or below the compacted revision changes nothing.
            Ok(_) | Err(StoreError::Compacted { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        let response = self
            .kv()
            .get("\0", Some(GetOptions::new().with_count_only()))
            .await
            .map_err(map_error)?;
        header_revision(response.header())
    }
}

/// An etcd watch turned into our event stream.
struct WatchState {
    /// Holds the request side open; dropping it would end the watch.
    watch: etcd_client::WatchStream,
    pending: VecDeque<Result<WatchEvent, StoreError>>,
    after: Revision,
    done: bool,
}

impl WatchState {
    async fn next(&mut self) -> Option<Result<WatchEvent, StoreError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                if item.is_err() {
                    self.done = true;
                    self.pending.clear();
                }
                return Some(item);
            }
            if self.done {
                return None;
            }
            let response = match self.watch.message().await {
                Ok(Some(response)) => response,
                Ok(None) => return None,
                Err(error) => {
                    self.done = true;
                    return Some(Err(StoreError::Etcd(error)));
                }
            };
            for event in response.events() {
                self.pending.push_back(convert(event));
            }
            if response.canceled() {
                let error = if response.compact_revision() > 0 {
                    StoreError::Compacted {
                        requested: self.after,
                        compacted: response.compact_revision(),
                    }
                } else {
                    StoreError::Other(format!(
                        "etcd canceled the watch: {}",
                        response.cancel_reason()
                    ))
                };
                self.pending.push_back(Err(error));
            }
        }
    }
}

fn convert(event: &etcd_client::Event) -> Result<WatchEvent, StoreError> {
    let kv = event
        .kv()
        .ok_or_else(|| StoreError::Other("etcd event without kv".into()))?;
    let prev = event.prev_kv().map(to_kv).transpose()?;
    match event.event_type() {
        EventType::Put => Ok(WatchEvent::Put {
            kv: to_kv(kv)?,
            prev,
        }),
        EventType::Delete => {
            let prev = match prev {
                Some(prev) => prev,
                None => KeyValue {
                    value: Bytes::new(),
                    ..to_kv(kv)?
                },
            };
            Ok(WatchEvent::Delete {
                revision: kv.mod_revision(),
                prev,
            })
        }
    }
}
