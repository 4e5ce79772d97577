//! Session tests: two sessions over an in-memory pipe, and one session
//! against a scripted raw-frame peer.

use crate::frame::{Codec, Frame, SETTINGS_INITIAL_WINDOW_SIZE, Setting};
use crate::{Error, Headers, RstStatus, Session, Stream};
use bytes::{Bytes, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Every wait in these tests ends, pass or fail.
const DEADLINE: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {DEADLINE:?}"),
    }
}

/// A peer that speaks raw frames, scripted by the test.
struct RawPeer {
    io: DuplexStream,
    codec: Codec,
    buf: BytesMut,
}

impl RawPeer {
    fn new(io: DuplexStream) -> Self {
        Self {
            io,
            codec: Codec::new().expect("codec"),
            buf: BytesMut::new(),
        }
    }

    /// The next frame, or `None` at EOF.
    async fn recv(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf).expect("decode") {
                return Some(frame);
            }
            let n = within("reading a frame", self.io.read_buf(&mut self.buf))
                .await
                .expect("read");
            if n == 0 {
                return None;
            }
        }
    }

    /// The next frame that is not SETTINGS or WINDOW_UPDATE.
    async fn recv_main(&mut self) -> Option<Frame> {
        loop {
            match self.recv().await? {
                Frame::Settings { .. } | Frame::WindowUpdate { .. } => {}
                frame => return Some(frame),
            }
        }
    }

    async fn send(&mut self, frame: Frame) {
        let mut out = BytesMut::new();
        self.codec.encode(&frame, &mut out).expect("encode");
        self.io.write_all(&out).await.expect("write");
    }
}

fn pattern(stream: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(stream))
        .collect()
}

#[tokio::test]
async fn streams_carry_headers_and_data_both_ways() {
    let (a, b) = tokio::io::duplex(8 * 1024);
    let client = Session::client(a).expect("client");
    let server = Session::server(b).expect("server");
    let serve = tokio::spawn(async move {
        let mut stream = server.accept().await.expect("a stream");
        assert_eq!(stream.headers().get("streamType"), Some("stdin"));
        assert_eq!(stream.id() % 2, 1);
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.expect("read");
        stream.write_all(&got).await.expect("echo");
        stream.write_all(b" and back").await.expect("echo");
        stream.close_write().await.expect("fin");
    });
    let mut stream = within(
        "open",
        client.open(Headers::new().with("streamType", "stdin")),
    )
    .await
    .expect("open");
    stream.write_all(b"there").await.expect("write");
    stream.close_write().await.expect("fin");
    assert!(stream.write_all(b"more").await.is_err(), "write after FIN");
    let mut back = String::new();
    within("echo", stream.read_to_string(&mut back))
        .await
        .expect("read");
    assert_eq!(back, "there and back");
    within("server", serve).await.expect("server task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabytes_on_several_streams_with_half_close() {
    const STREAMS: u8 = 4;
    const LEN: usize = 3 * 1024 * 1024 + 123;
    let (a, b) = tokio::io::duplex(32 * 1024);
    let client = Session::client(a).expect("client");
    let server = Session::server(b).expect("server");
    // The server echoes every stream after reading it whole: the client
    // must half-close before any answer comes.
    let serve = tokio::spawn(async move {
        let mut echoes = Vec::new();
        while let Some(mut stream) = server.accept().await {
            echoes.push(tokio::spawn(async move {
                let mut got = Vec::new();
                stream.read_to_end(&mut got).await.expect("read");
                stream.write_all(&got).await.expect("echo");
                stream.close_write().await.expect("fin");
                got.len()
            }));
            if echoes.len() == STREAMS as usize {
                break;
            }
        }
        let mut total = 0;
        for echo in echoes {
            total += echo.await.expect("echo task");
        }
        total
    });
    let mut tasks = Vec::new();
    for n in 0..STREAMS {
        let stream = within("open", client.open(Headers::new().with("n", n.to_string())))
            .await
            .expect("open");
        tasks.push(tokio::spawn(async move {
            let data = pattern(n, LEN);
            let (mut rd, mut wr) = tokio::io::split(stream);
            let writer = async {
                wr.write_all(&data).await.expect("write");
                wr.shutdown().await.expect("fin");
            };
            let reader = async {
                let mut back = Vec::new();
                rd.read_to_end(&mut back).await.expect("read");
                back
            };
            let ((), back) = tokio::join!(writer, reader);
            assert!(back == data, "stream {n} came back different");
        }));
    }
    for task in tasks {
        within("stream", task).await.expect("stream task");
    }
    assert_eq!(
        within("server", serve).await.expect("server"),
        STREAMS as usize * LEN
    );
}

/// Opens a stream on `client` with a scripted peer that announces flow
/// control with `initial` as its stream window.
async fn open_against_raw_peer(initial: u32) -> (Session, Stream, RawPeer) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let client = Session::client(a).expect("client");
    let mut peer = RawPeer::new(b);
    peer.send(Frame::Settings {
        clear: false,
        settings: vec![Setting {
            flags: 0,
            id: SETTINGS_INITIAL_WINDOW_SIZE,
            value: initial,
        }],
    })
    .await;
    let opening = tokio::spawn({
        let client = client.clone();
        async move { client.open(Headers::new().with("streamtype", "data")).await }
    });
    let Some(Frame::Settings { settings, .. }) = peer.recv().await else {
        panic!("the session starts with SETTINGS");
    };
    assert_eq!(settings[0].id, SETTINGS_INITIAL_WINDOW_SIZE);
    let Some(Frame::SynStream {
        stream_id, headers, ..
    }) = peer.recv().await
    else {
        panic!("expected SYN_STREAM");
    };
    assert_eq!(stream_id, 1);
    assert_eq!(headers.get("streamtype"), Some("data"));
    peer.send(Frame::SynReply {
        stream_id,
        fin: false,
        headers: Headers::new().with("ok", "yes"),
    })
    .await;
    let stream = within("open", opening).await.expect("task").expect("open");
    assert_eq!(stream.headers().get("ok"), Some("yes"));
    (client, stream, peer)
}

/// Receives DATA up to `limit` bytes, then proves with a PING round trip
/// that nothing beyond it was sent. Returns the bytes and whether FIN came.
async fn drain_window(peer: &mut RawPeer, limit: usize, ping: u32) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut fin = false;
    while got.len() < limit && !fin {
        match peer.recv_main().await.expect("frame") {
            Frame::Data { data, fin: f, .. } => {
                got.extend_from_slice(&data);
                fin = f;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        got.len() <= limit,
        "{} bytes sent into a {limit} byte window",
        got.len()
    );
    if !fin {
        peer.send(Frame::Ping { id: ping }).await;
        match peer.recv_main().await.expect("frame") {
            Frame::Ping { id } => assert_eq!(id, ping),
            other => panic!("data beyond the window: {other:?}"),
        }
    }
    (got, fin)
}

#[tokio::test]
async fn writer_waits_at_the_window_and_resumes_on_window_update() {
    const LEN: usize = 200 * 1024;
    let (_client, stream, mut peer) = open_against_raw_peer(16 * 1024).await;
    let data = pattern(7, LEN);
    let writing = tokio::spawn({
        let data = data.clone();
        async move {
            let mut stream = stream;
            stream.write_all(&data).await.expect("write");
            stream.close_write().await.expect("fin");
            stream
        }
    });
    let mut stream_window: i64 = 16 * 1024;
    let mut session_window: i64 = 64 * 1024;
    let mut received = Vec::new();
    let mut ping = 2;
    loop {
        let allowed = stream_window.min(session_window) as usize;
        let (got, fin) = drain_window(&mut peer, allowed, ping).await;
        ping += 2;
        stream_window -= got.len() as i64;
        session_window -= got.len() as i64;
        received.extend_from_slice(&got);
        if fin {
            break;
        }
        assert!(!writing.is_finished());
        // Open both windows by different amounts.
        peer.send(Frame::WindowUpdate {
            stream_id: 1,
            delta: 40_000,
        })
        .await;
        stream_window += 40_000;
        peer.send(Frame::WindowUpdate {
            stream_id: 0,
            delta: 30_000,
        })
        .await;
        session_window += 30_000;
    }
    assert!(received == data, "data arrived different");
    within("writer", writing).await.expect("writer task");
}

#[tokio::test]
async fn reader_opens_the_windows_as_it_consumes() {
    const LEN: usize = 1024 * 1024;
    let (_client, mut stream, mut peer) = open_against_raw_peer(64 * 1024).await;
    let reading = tokio::spawn(async move {
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.expect("read");
        got
    });
    // Send as a flow-controlled peer: never beyond the windows we were given.
    let data = pattern(3, LEN);
    let (mut stream_window, mut session_window) = (64 * 1024i64, 64 * 1024i64);
    let mut sent = 0;
    while sent < LEN {
        while stream_window.min(session_window) <= 0 {
            match peer.recv().await.expect("frame") {
                Frame::WindowUpdate {
                    stream_id: 0,
                    delta,
                } => session_window += i64::from(delta),
                Frame::WindowUpdate {
                    stream_id: 1,
                    delta,
                } => stream_window += i64::from(delta),
                other => panic!("unexpected {other:?}"),
            }
        }
        let n = (stream_window.min(session_window) as usize)
            .min(LEN - sent)
            .min(10_000);
        peer.send(Frame::Data {
            stream_id: 1,
            fin: sent + n == LEN,
            data: Bytes::copy_from_slice(&data[sent..sent + n]),
        })
        .await;
        sent += n;
        stream_window -= n as i64;
        session_window -= n as i64;
    }
    let got = within("reader", reading).await.expect("reader task");
    assert!(got == data, "data arrived different");
}

#[tokio::test]
async fn peers_without_flow_control_are_not_waited_for() {
    // Go's spdystream never sends SETTINGS or WINDOW_UPDATE.
    const LEN: usize = 2 * 1024 * 1024;
    let (a, b) = tokio::io::duplex(64 * 1024);
    let client = Session::client(a).expect("client");
    let mut peer = RawPeer::new(b);
    let data = pattern(9, LEN);
    let writing = tokio::spawn({
        let data = data.clone();
        async move {
            let mut stream = client.open(Headers::new()).await.expect("open");
            stream.write_all(&data).await.expect("write");
            stream.close_write().await.expect("fin");
        }
    });
    let Some(Frame::SynStream { stream_id, .. }) = peer.recv_main().await else {
        panic!("expected SYN_STREAM");
    };
    peer.send(Frame::SynReply {
        stream_id,
        fin: false,
        headers: Headers::new(),
    })
    .await;
    let mut got = Vec::new();
    loop {
        match peer.recv_main().await.expect("frame") {
            Frame::Data { data, fin, .. } => {
                got.extend_from_slice(&data);
                if fin {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(got == data);
    within("writer", writing).await.expect("writer task");
}

#[tokio::test]
async fn pings_are_answered_and_goaway_ends_the_session() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let client = Session::client(a).expect("client");
    let mut peer = RawPeer::new(b);
    peer.send(Frame::Ping { id: 2 }).await;
    assert_eq!(peer.recv_main().await, Some(Frame::Ping { id: 2 }));
    peer.send(Frame::GoAway {
        last_good_stream_id: 0,
        status: 0,
    })
    .await;
    assert!(within("accept", client.accept()).await.is_none());
    // The GOAWAY is seen before the PING answer goes out.
    peer.send(Frame::Ping { id: 4 }).await;
    assert_eq!(peer.recv_main().await, Some(Frame::Ping { id: 4 }));
    assert!(matches!(
        client.open(Headers::new()).await,
        Err(Error::GoneAway)
    ));
}

#[tokio::test]
async fn reset_streams_fail_and_dropped_sessions_say_goaway() {
    let (client, mut stream, mut peer) = open_against_raw_peer(64 * 1024).await;
    peer.send(Frame::Data {
        stream_id: 1,
        fin: false,
        data: Bytes::from_static(b"abc"),
    })
    .await;
    peer.send(Frame::RstStream {
        stream_id: 1,
        status: RstStatus::INTERNAL_ERROR,
    })
    .await;
    peer.send(Frame::Ping { id: 2 }).await;
    assert_eq!(peer.recv_main().await, Some(Frame::Ping { id: 2 }));
    let err = stream.write_all(b"x").await.expect_err("reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    // What arrived before the reset is still read, then the error.
    let mut got = Vec::new();
    let err = stream.read_to_end(&mut got).await.expect_err("reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(got, b"abc");
    drop(stream);

    // Upstream closes a connection by resetting its streams with CANCEL
    // right after the last data: readers see the data, then EOF.
    let opening = tokio::spawn({
        let client = client.clone();
        async move { client.open(Headers::new()).await }
    });
    let Some(Frame::SynStream { stream_id: 3, .. }) = peer.recv_main().await else {
        panic!("expected SYN_STREAM 3");
    };
    peer.send(Frame::SynReply {
        stream_id: 3,
        fin: false,
        headers: Headers::new(),
    })
    .await;
    let mut stream = within("open", opening).await.expect("task").expect("open");
    peer.send(Frame::Data {
        stream_id: 3,
        fin: false,
        data: Bytes::from_static(b"{\"status\":\"Success\"}"),
    })
    .await;
    peer.send(Frame::RstStream {
        stream_id: 3,
        status: RstStatus::CANCEL,
    })
    .await;
    let mut status = String::new();
    within("read", stream.read_to_string(&mut status))
        .await
        .expect("read");
    assert_eq!(status, "{\"status\":\"Success\"}");
    drop(stream);

    drop(client);
    assert!(matches!(
        peer.recv_main().await,
        Some(Frame::GoAway { status: 0, .. })
    ));
    assert_eq!(peer.recv_main().await, None);
}

#[tokio::test]
async fn dropping_a_stream_sends_fin_and_keeps_the_window_open() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let client = Session::client(a).expect("client");
    let mut peer = RawPeer::new(b);
    peer.send(Frame::Settings {
        clear: false,
        settings: vec![Setting {
            flags: 0,
            id: SETTINGS_INITIAL_WINDOW_SIZE,
            value: 64 * 1024,
        }],
    })
    .await;
    peer.send(Frame::SynStream {
        stream_id: 2,
        associated_to: 0,
        priority: 0,
        fin: false,
        unidirectional: false,
        headers: Headers::new().with("streamtype", "error"),
    })
    .await;
    let stream = within("accept", client.accept()).await.expect("stream");
    assert_eq!(stream.headers().get("streamtype"), Some("error"));
    assert!(matches!(
        peer.recv_main().await,
        Some(Frame::SynReply { stream_id: 2, .. })
    ));
    drop(stream);
    assert_eq!(
        peer.recv_main().await,
        Some(Frame::Data {
            stream_id: 2,
            fin: true,
            data: Bytes::new()
        })
    );
    // Data nobody reads still counts as consumed.
    peer.send(Frame::Data {
        stream_id: 2,
        fin: false,
        data: Bytes::from(vec![0u8; 40_000]),
    })
    .await;
    loop {
        match peer.recv().await.expect("frame") {
            Frame::WindowUpdate {
                stream_id: 0,
                delta,
            } => {
                assert_eq!(delta, 40_000);
                break;
            }
            Frame::Settings { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn handles_and_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    fn sync<T: Sync>() {}
    sync::<Session>();
    sync::<Stream>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let (a, _b) = tokio::io::duplex(1024);
    let session = Session::client(a).expect("client");
    send(&session.open(Headers::new()));
    send(&session.accept());
}

#[tokio::test]
async fn a_server_answers_the_clients_pings_only() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let _server = Session::server(a).expect("server");
    let mut peer = RawPeer::new(b);
    // Client pings are odd; an even id would be the answer to our own.
    peer.send(Frame::Ping { id: 2 }).await;
    peer.send(Frame::Ping { id: 1 }).await;
    assert_eq!(peer.recv_main().await, Some(Frame::Ping { id: 1 }));
}

#[tokio::test]
async fn unidirectional_streams_get_no_reply() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let client = Session::client(a).expect("client");
    let mut peer = RawPeer::new(b);
    peer.send(Frame::SynStream {
        stream_id: 2,
        associated_to: 0,
        priority: 0,
        fin: false,
        unidirectional: true,
        headers: Headers::new(),
    })
    .await;
    peer.send(Frame::Data {
        stream_id: 2,
        fin: true,
        data: Bytes::from_static(b"pushed"),
    })
    .await;
    let mut stream = within("accept", client.accept()).await.expect("stream");
    assert!(stream.write_all(b"x").await.is_err());
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.expect("read");
    assert_eq!(got, b"pushed");
    drop(stream);
    // Nothing was sent for stream 2: the next frame is the answer to a PING.
    peer.send(Frame::Ping { id: 2 }).await;
    assert_eq!(peer.recv_main().await, Some(Frame::Ping { id: 2 }));
}

#[tokio::test]
async fn several_tasks_may_wait_in_accept() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = Session::server(a).expect("server");
    let client = Session::client(b).expect("client");
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move { server.accept().await.map(|s| s.id()) })
        })
        .collect();
    tokio::task::yield_now().await;
    let mut opened = Vec::new();
    for _ in 0..3 {
        opened.push(
            within("open", client.open(Headers::new()))
                .await
                .expect("open"),
        );
    }
    let mut ids = Vec::new();
    for waiter in waiters {
        ids.push(
            within("accept", waiter)
                .await
                .expect("task")
                .expect("stream"),
        );
    }
    ids.sort_unstable();
    assert_eq!(ids, [1, 3, 5]);
}
