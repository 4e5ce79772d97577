//! gRPC probes: `grpc.health.v1.Health/Check` to the pod IP and the probe's
//! port, bounded by the probe timeout; `SERVING` is a success. Failures carry
//! upstream's messages ("timeout: failed to connect service …",
//! "service unhealthy (responded with \"NOT_SERVING\")", …).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use k8s_openapi::api::core::v1::GRPCAction;
use tonic::Code;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Pause between connection attempts within one probe.
const CONNECT_RETRY: Duration = Duration::from_millis(200);

/// Go's rendering of a whole-second duration ("1s", "30s"), as upstream prints timeouts.
fn go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// Runs one gRPC health check against `pod_ip`; `Err` holds the probe's failure message.
pub async fn check(g: &GRPCAction, pod_ip: &str, timeout: Duration) -> Result<(), String> {
    let ip: IpAddr = pod_ip
        .parse()
        .map_err(|_| format!("error: invalid pod IP {pod_ip:?}"))?;
    let port = u16::try_from(g.port).map_err(|_| format!("invalid port number: {}", g.port))?;
    let addr = SocketAddr::new(ip, port);
    let deadline = tokio::time::Instant::now() + timeout;
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| format!("error: failed to connect service at \"{addr}\": {e}"))?
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent("kube-probe/1.33")
        .map_err(|e| format!("error: failed to connect service at \"{addr}\": {e}"))?;
    // As upstream's blocking dial: a refused connection is retried until the
    // probe's deadline, which then fails the probe as a timeout.
    let connect = async {
        loop {
            match endpoint.connect().await {
                Ok(c) => return c,
                Err(e) => tracing::trace!(%addr, error = %e, "gRPC probe: connecting"),
            }
            tokio::time::sleep(CONNECT_RETRY).await;
        }
    };
    let Ok(channel) = tokio::time::timeout_at(deadline, connect).await else {
        return Err(format!(
            "timeout: failed to connect service \"{addr}\" within {}: context deadline exceeded",
            go_duration(timeout)
        ));
    };
    let mut client = HealthClient::new(channel);
    let request = HealthCheckRequest {
        service: g.service.clone().unwrap_or_default(),
    };
    let reply = match tokio::time::timeout_at(deadline, client.check(request)).await {
        Err(_) => {
            return Err(format!(
                "timeout: health rpc did not complete within {}",
                go_duration(timeout)
            ));
        }
        Ok(Err(status)) => {
            return Err(match status.code() {
                Code::Unimplemented => format!(
                    "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
                    status.message()
                ),
                Code::DeadlineExceeded | Code::Cancelled => format!(
                    "timeout: health rpc did not complete within {}",
                    go_duration(timeout)
                ),
                code => format!(
                    "error: health rpc probe failed: rpc error: code = {code:?} desc = {}",
                    status.message()
                ),
            });
        }
        Ok(Ok(r)) => r.into_inner(),
    };
    let status = ServingStatus::try_from(reply.status).unwrap_or(ServingStatus::Unknown);
    if status == ServingStatus::Serving {
        Ok(())
    } else {
        Err(format!(
            "service unhealthy (responded with \"{}\")",
            status.as_str_name()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::wrappers::TcpListenerStream;

    fn action(port: u16, service: Option<&str>) -> GRPCAction {
        GRPCAction {
            port: i32::from(port),
            service: service.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn health_check_against_a_loopback_server() {
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("ready", tonic_health::ServingStatus::Serving)
            .await;
        reporter
            .set_service_status("sick", tonic_health::ServingStatus::NotServing)
            .await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        let t = Duration::from_secs(5);

        // The overall status ("") is SERVING by default.
        assert_eq!(check(&action(port, None), "127.0.0.1", t).await, Ok(()));
        assert_eq!(
            check(&action(port, Some("ready")), "127.0.0.1", t).await,
            Ok(())
        );
        assert_eq!(
            check(&action(port, Some("sick")), "127.0.0.1", t).await,
            Err("service unhealthy (responded with \"NOT_SERVING\")".to_string())
        );
        let unknown = check(&action(port, Some("nope")), "127.0.0.1", t)
            .await
            .unwrap_err();
        assert!(
            unknown.starts_with("error: health rpc probe failed: rpc error: code = NotFound"),
            "{unknown}"
        );
        server.abort();
        let _ = server.await;

        // Nobody listens any more: connecting is retried until the timeout.
        let refused = check(&action(port, None), "127.0.0.1", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(
            refused,
            format!(
                "timeout: failed to connect service \"127.0.0.1:{port}\" within 1s: context deadline exceeded"
            )
        );
    }

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
    }
}
