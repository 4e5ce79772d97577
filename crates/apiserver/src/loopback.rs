//! The in-process way in: components running inside `rkube server` (scheduler,
//! controllers, the node agent) send their requests straight to the router, as the
//! admin, without TLS, TCP or HTTP framing. Every request still goes through the same
//! authentication, routing and handlers as one from the network.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use futures::future::BoxFuture;
use http::{HeaderValue, Request, header};
use tower::ServiceExt;

/// A tower service answering requests with the API server's own router.
#[derive(Clone)]
pub struct Loopback {
    app: Router,
    authorization: HeaderValue,
}

impl Loopback {
    /// Requests through `app`, authenticated with the admin `token`.
    pub(crate) fn new(app: Router, token: &str) -> Loopback {
        let authorization = HeaderValue::from_str(&format!("Bearer {token}")).unwrap_or_else(|_| {
            tracing::error!("the admin token is not a valid header value: in-process requests will be refused");
            HeaderValue::from_static("")
        });
        Loopback { app, authorization }
    }
}

impl<B> tower::Service<Request<B>> for Loopback
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        parts
            .headers
            .insert(header::AUTHORIZATION, self.authorization.clone());
        let req = Request::from_parts(parts, Body::new(body));
        let app = self.app.clone();
        Box::pin(async move { app.oneshot(req).await })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::routing::post;
    use http_body_util::{BodyExt, Full};

    #[tokio::test]
    async fn requests_reach_the_router_with_the_admin_token_and_their_body() {
        let app = Router::new().route(
            "/api/v1/echo",
            post(|headers: http::HeaderMap, body: String| async move {
                let auth = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                format!("{auth}|{body}")
            }),
        );
        let lb = Loopback::new(app, "s3cret");
        let req = Request::post("/api/v1/echo")
            .header(header::AUTHORIZATION, "Bearer forged")
            .body(Full::new(bytes::Bytes::from_static(b"hello")))
            .unwrap();
        let resp = lb.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), http::StatusCode::OK);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        // The caller's own Authorization is replaced, never trusted.
        assert_eq!(&body[..], b"Bearer s3cret|hello");
    }
}
