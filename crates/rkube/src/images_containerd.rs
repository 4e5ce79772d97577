//! The few calls of containerd's own gRPC API that an image import needs
//! (content store, images, leases), over its unix socket, with the
//! `containerd-namespace` header on every call. The protobuf messages are
//! written by hand from containerd's `api/services/*/v1` definitions: only the
//! fields used here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

/// Protobuf messages of containerd's API (subset).
pub mod pb {
    use std::collections::HashMap;

    /// `containerd.types.Descriptor`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Descriptor {
        #[prost(string, tag = "1")]
        pub media_type: String,
        #[prost(string, tag = "2")]
        pub digest: String,
        #[prost(int64, tag = "3")]
        pub size: i64,
        #[prost(map = "string, string", tag = "5")]
        pub annotations: HashMap<String, String>,
    }

    /// `containerd.services.images.v1.Image`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Image {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(map = "string, string", tag = "2")]
        pub labels: HashMap<String, String>,
        #[prost(message, optional, tag = "3")]
        pub target: Option<Descriptor>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CreateImageRequest {
        #[prost(message, optional, tag = "1")]
        pub image: Option<Image>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UpdateImageRequest {
        #[prost(message, optional, tag = "1")]
        pub image: Option<Image>,
        #[prost(message, optional, tag = "2")]
        pub update_mask: Option<prost_types::FieldMask>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ImageResponse {
        #[prost(message, optional, tag = "1")]
        pub image: Option<Image>,
    }

    /// `containerd.services.content.v1.Info`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Info {
        #[prost(string, tag = "1")]
        pub digest: String,
        #[prost(int64, tag = "2")]
        pub size: i64,
        #[prost(map = "string, string", tag = "5")]
        pub labels: HashMap<String, String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InfoRequest {
        #[prost(string, tag = "1")]
        pub digest: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InfoResponse {
        #[prost(message, optional, tag = "1")]
        pub info: Option<Info>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UpdateContentRequest {
        #[prost(message, optional, tag = "1")]
        pub info: Option<Info>,
        #[prost(message, optional, tag = "2")]
        pub update_mask: Option<prost_types::FieldMask>,
    }

    /// `WriteAction`: STAT = 0, WRITE = 1, COMMIT = 2.
    pub const WRITE: i32 = 1;
    pub const COMMIT: i32 = 2;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteContentRequest {
        #[prost(int32, tag = "1")]
        pub action: i32,
        #[prost(string, tag = "2")]
        pub r#ref: String,
        #[prost(int64, tag = "3")]
        pub total: i64,
        #[prost(string, tag = "4")]
        pub expected: String,
        #[prost(int64, tag = "5")]
        pub offset: i64,
        #[prost(bytes = "vec", tag = "6")]
        pub data: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteContentResponse {
        #[prost(int32, tag = "1")]
        pub action: i32,
        #[prost(int64, tag = "4")]
        pub offset: i64,
        #[prost(int64, tag = "5")]
        pub total: i64,
        #[prost(string, tag = "6")]
        pub digest: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CreateLeaseRequest {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(map = "string, string", tag = "3")]
        pub labels: HashMap<String, String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DeleteLeaseRequest {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(bool, tag = "2")]
        pub sync: bool,
    }

    /// Replies whose content is not needed.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Ignored {}
}

/// Bytes per content write message.
const CHUNK: usize = 1 << 20;
/// Deadline of each unary call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A blob to put in the content store.
#[derive(Debug, Clone)]
pub struct Blob {
    /// `sha256:…`.
    pub digest: String,
    pub size: i64,
    /// Where its bytes are.
    pub path: PathBuf,
    /// Garbage-collection references to other blobs (`containerd.io/gc.ref.content.*`).
    pub labels: HashMap<String, String>,
}

/// A connection to containerd, in one namespace, optionally under a lease.
pub struct Containerd {
    channel: Channel,
    namespace: String,
    lease: Option<String>,
}

impl Containerd {
    /// Connects to the unix socket at `address`.
    pub async fn connect(address: &Path, namespace: &str) -> Result<Self> {
        let path = address.to_path_buf();
        let channel = Endpoint::from_static("http://localhost")
            .connect_timeout(Duration::from_secs(10))
            .connect_with_connector(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }))
            .await
            .with_context(|| format!("connecting to containerd at {}", address.display()))?;
        Ok(Containerd {
            channel,
            namespace: namespace.to_string(),
            lease: None,
        })
    }

    fn request<T>(&self, msg: T) -> Result<Request<T>> {
        let mut req = Request::new(msg);
        req.metadata_mut()
            .insert("containerd-namespace", self.namespace.parse()?);
        if let Some(l) = &self.lease {
            req.metadata_mut().insert("containerd-lease", l.parse()?);
        }
        Ok(req)
    }

    async fn unary<Q, A>(&self, path: &'static str, msg: Q) -> Result<A, Status>
    where
        Q: prost::Message + Send + Sync + 'static,
        A: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut req = self
            .request(msg)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        req.set_timeout(CALL_TIMEOUT);
        let codec = tonic_prost::ProstCodec::<Q, A>::default();
        let reply = grpc
            .unary(req, PathAndQuery::from_static(path), codec)
            .await?;
        Ok(reply.into_inner())
    }

    /// Takes a lease that keeps what this connection writes from containerd's
    /// garbage collector until [`Containerd::release`] (or its expiry, 1 h).
    pub async fn lease(&mut self) -> Result<()> {
        let id = format!("rkube-import-{}", std::process::id());
        let expire = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
        let req = pb::CreateLeaseRequest {
            id: id.clone(),
            labels: HashMap::from([("containerd.io/gc.expire".to_string(), expire)]),
        };
        match self
            .unary::<_, pb::Ignored>("/containerd.services.leases.v1.Leases/Create", req)
            .await
        {
            Ok(_) => {}
            Err(s) if s.code() == Code::AlreadyExists => {}
            Err(s) => return Err(anyhow!("creating a lease: {}", s.message())),
        }
        self.lease = Some(id);
        Ok(())
    }

    /// Drops the lease: what the images refer to stays.
    pub async fn release(&mut self) -> Result<()> {
        let Some(id) = self.lease.take() else {
            return Ok(());
        };
        self.unary::<_, pb::Ignored>(
            "/containerd.services.leases.v1.Leases/Delete",
            pb::DeleteLeaseRequest { id, sync: false },
        )
        .await
        .map_err(|s| anyhow!("deleting the lease: {}", s.message()))?;
        Ok(())
    }

    /// The content store's record of `digest`, if it has it.
    async fn info(&self, digest: &str) -> Result<Option<pb::Info>> {
        let req = pb::InfoRequest {
            digest: digest.to_string(),
        };
        match self
            .unary::<_, pb::InfoResponse>("/containerd.services.content.v1.Content/Info", req)
            .await
        {
            Ok(r) => Ok(r.info),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(anyhow!("content info {digest}: {}", s.message())),
        }
    }

    /// Puts `blob` in the content store (unless it is there) and sets its labels.
    pub async fn put(&self, blob: &Blob) -> Result<bool> {
        let written = match self.info(&blob.digest).await? {
            Some(_) => false,
            None => self.write(blob).await?,
        };
        if !blob.labels.is_empty() {
            let paths = blob.labels.keys().map(|k| format!("labels.{k}")).collect();
            let req = pb::UpdateContentRequest {
                info: Some(pb::Info {
                    digest: blob.digest.clone(),
                    size: blob.size,
                    labels: blob.labels.clone(),
                }),
                update_mask: Some(prost_types::FieldMask { paths }),
            };
            self.unary::<_, pb::Ignored>("/containerd.services.content.v1.Content/Update", req)
                .await
                .map_err(|s| anyhow!("labelling {}: {}", blob.digest, s.message()))?;
        }
        Ok(written)
    }

    /// Streams the blob's bytes to containerd's content store and commits them.
    async fn write(&self, blob: &Blob) -> Result<bool> {
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::WriteContentRequest>(4);
        let reference = format!("rkube-import-{}-{}", std::process::id(), blob.digest);
        let (path, digest, total) = (blob.path.clone(), blob.digest.clone(), blob.size);
        let feeder = tokio::spawn(async move {
            let mut f = tokio::fs::File::open(&path)
                .await
                .with_context(|| format!("opening {}", path.display()))?;
            let mut offset = 0i64;
            loop {
                let mut data = vec![0u8; CHUNK];
                let n = f.read(&mut data).await?;
                data.truncate(n);
                let last = n == 0;
                let msg = pb::WriteContentRequest {
                    action: if last { pb::COMMIT } else { pb::WRITE },
                    r#ref: reference.clone(),
                    total,
                    expected: digest.clone(),
                    offset,
                    data,
                };
                offset += i64::try_from(n)?;
                if tx.send(msg).await.is_err() || last {
                    return Ok::<_, anyhow::Error>(offset);
                }
            }
        });
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready().await.context("containerd is not ready")?;
        let req = self.request(tokio_stream::wrappers::ReceiverStream::new(rx))?;
        let codec =
            tonic_prost::ProstCodec::<pb::WriteContentRequest, pb::WriteContentResponse>::default();
        let result = grpc
            .streaming(
                req,
                PathAndQuery::from_static("/containerd.services.content.v1.Content/Write"),
                codec,
            )
            .await;
        let mut stream = match result {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == Code::AlreadyExists => return Ok(false),
            Err(s) => bail!("writing {}: {}", blob.digest, s.message()),
        };
        let mut committed = None;
        loop {
            match stream.message().await {
                Ok(Some(r)) if r.action == pb::COMMIT => committed = Some(r.digest),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(s) if s.code() == Code::AlreadyExists => return Ok(false),
                Err(s) => bail!("writing {}: {}", blob.digest, s.message()),
            }
        }
        let sent = feeder.await.context("reading the archive")??;
        match committed {
            Some(d) if d == blob.digest && sent == blob.size => Ok(true),
            Some(d) => bail!("writing {}: containerd committed {d}", blob.digest),
            None => bail!("writing {}: containerd did not commit it", blob.digest),
        }
    }

    /// Creates (or points at `target`) the image `name`.
    pub async fn set_image(&self, name: &str, target: pb::Descriptor) -> Result<()> {
        let image = pb::Image {
            name: name.to_string(),
            labels: HashMap::new(),
            target: Some(target),
        };
        let create = pb::CreateImageRequest {
            image: Some(image.clone()),
        };
        match self
            .unary::<_, pb::ImageResponse>("/containerd.services.images.v1.Images/Create", create)
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == Code::AlreadyExists => {
                let update = pb::UpdateImageRequest {
                    image: Some(image),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["target".to_string()],
                    }),
                };
                self.unary::<_, pb::ImageResponse>(
                    "/containerd.services.images.v1.Images/Update",
                    update,
                )
                .await
                .map_err(|s| anyhow!("updating image {name}: {}", s.message()))?;
                Ok(())
            }
            Err(s) => Err(anyhow!("creating image {name}: {}", s.message())),
        }
    }
}
