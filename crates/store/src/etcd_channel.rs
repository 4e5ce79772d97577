//! The gRPC channel under the etcd client: one shared HTTP/2 connection, no request queue.
//!
//! tonic's own channel puts a buffer task (and, for several endpoints, a balancer) in
//! front of the connection, and sends a unary request body as a DATA frame followed by
//! an empty one that ends the stream. Every create pays for that hop, and etcd for the
//! extra frames (and the RST_STREAM it answers with). Here a call goes straight to the
//! connection's sender, and a unary request goes out as HEADERS plus one DATA frame
//! that ends the stream. The connection is opened on first use and again after it
//! closes (etcd restarted), trying the endpoints in turn.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Either, Full};
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tower::Service;
use tracing::Instrument;

use crate::StoreError;

type BoxError = Box<dyn StdError + Send + Sync>;

/// A request body as sent: whole for unary calls, streamed for client-streaming ones.
type Body = Either<Full<Bytes>, tonic::body::Body>;

/// Methods whose requests are streams (everything else sends one message).
const CLIENT_STREAMING: [&str; 2] = [
    "/etcdserverpb.Watch/Watch",
    "/etcdserverpb.Lease/LeaseKeepAlive",
];

/// How the connection is set up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// Time allowed for the TCP connect and the HTTP/2 handshake.
    pub connect_timeout: Duration,
    /// HTTP/2 ping interval and timeout, to notice a dead endpoint under a quiet watch.
    pub keep_alive: Duration,
}

/// An etcd client channel over the given `http://host:port` endpoints.
pub(crate) fn channel(
    endpoints: &[String],
    settings: Settings,
) -> Result<etcd_client::Channel, StoreError> {
    let origins = endpoints
        .iter()
        .map(|e| Origin::parse(e))
        .collect::<Result<Vec<_>, _>>()?;
    if origins.is_empty() {
        return Err(StoreError::Other("no etcd endpoints".into()));
    }
    let transport = Transport {
        shared: Arc::new(Shared {
            origins,
            settings,
            current: parking_lot::Mutex::new(None),
            connecting: tokio::sync::Mutex::new(0),
        }),
    };
    Ok(etcd_client::Channel::Custom(
        tower::util::BoxCloneSyncService::new(transport),
    ))
}

/// Scheme and authority of one endpoint.
#[derive(Clone, Debug)]
struct Origin {
    scheme: Scheme,
    authority: Authority,
}

impl Origin {
    fn parse(endpoint: &str) -> Result<Origin, StoreError> {
        let bad = |why: &str| StoreError::Other(format!("etcd endpoint {endpoint:?}: {why}"));
        let uri: Uri = endpoint.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(bad("TLS to etcd is not supported yet; use http://")),
            _ => return Err(bad("want http://host:port")),
        }
        let authority = uri
            .authority()
            .filter(|a| a.port_u16().is_some())
            .cloned()
            .ok_or_else(|| bad("want http://host:port"))?;
        Ok(Origin {
            scheme: Scheme::HTTP,
            authority,
        })
    }

    fn uri(&self, path: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path.map_or("/", PathAndQuery::as_str))
            .build()
    }
}

/// The tower service etcd-client calls for every RPC.
#[derive(Clone)]
struct Transport {
    shared: Arc<Shared>,
}

struct Shared {
    origins: Vec<Origin>,
    settings: Settings,
    /// The open connection, if any.
    current: parking_lot::Mutex<Option<Connection>>,
    /// Held while connecting; the index of the endpoint to try first.
    connecting: tokio::sync::Mutex<usize>,
}

#[derive(Clone)]
struct Connection {
    sender: SendRequest<Body>,
    origin: usize,
}

impl Shared {
    fn open(&self) -> Option<Connection> {
        self.current
            .lock()
            .as_ref()
            .filter(|c| !c.sender.is_closed())
            .cloned()
    }

    /// The open connection, or a new one to the first endpoint that answers.
    async fn connection(&self) -> Result<Connection, BoxError> {
        if let Some(open) = self.open() {
            return Ok(open);
        }
        let mut first = self.connecting.lock().await;
        if let Some(open) = self.open() {
            return Ok(open);
        }
        let mut last_error: BoxError = "no etcd endpoints".into();
        for k in 0..self.origins.len() {
            let i = (*first + k) % self.origins.len();
            match connect(&self.origins[i], self.settings).await {
                Ok(sender) => {
                    *first = i;
                    let connection = Connection { sender, origin: i };
                    *self.current.lock() = Some(connection.clone());
                    return Ok(connection);
                }
                Err(error) => {
                    tracing::debug!(endpoint = %self.origins[i].authority, error = %error, "cannot connect to etcd");
                    last_error = error;
                }
            }
        }
        *first = (*first + 1) % self.origins.len();
        Err(last_error)
    }
}

async fn connect(origin: &Origin, settings: Settings) -> Result<SendRequest<Body>, BoxError> {
    let handshake = async {
        let stream = TcpStream::connect(origin.authority.as_str()).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(settings.keep_alive)
            .keep_alive_timeout(settings.keep_alive)
            .keep_alive_while_idle(true)
            .handshake::<_, Body>(TokioIo::new(stream))
            .await?;
        Ok::<_, BoxError>((sender, connection))
    };
    let (sender, connection) = tokio::time::timeout(settings.connect_timeout, handshake)
        .await
        .map_err(|_| format!("connecting to {} timed out", origin.authority))??;
    let span = tracing::debug_span!("etcd_connection", endpoint = %origin.authority);
    tokio::spawn(
        async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "etcd connection closed");
            }
        }
        .instrument(span),
    );
    Ok(sender)
}

impl Service<Request<tonic::body::Body>> for Transport {
    type Response = Response<tonic::body::Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // HTTP/2 multiplexes: a call waits for a connection inside its own future.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            let (mut head, body) = request.into_parts();
            let body = if CLIENT_STREAMING.contains(&head.uri.path()) {
                Either::Right(body)
            } else {
                // One encoded message, ready at once: send it with END_STREAM set.
                Either::Left(Full::new(body.collect().await?.to_bytes()))
            };
            // As tonic's own channel: no connection is gRPC's UNAVAILABLE.
            let mut connection = shared.connection().await.map_err(|error| {
                Box::new(tonic::Status::unavailable(error.to_string())) as BoxError
            })?;
            head.uri = shared.origins[connection.origin].uri(head.uri.path_and_query())?;
            let response = connection
                .sender
                .send_request(Request::from_parts(head, body))
                .await?;
            Ok(response.map(tonic::body::Body::new))
        })
    }
}
