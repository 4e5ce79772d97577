//! A SPDY/3.1 session over one byte stream: a reader task that dispatches
//! incoming frames, a writer task that owns the outgoing compression
//! context, and the shared state that [`Stream`] handles work on.

use crate::error::{Error, Result};
use crate::frame::{Codec, Frame, RstStatus, SETTINGS_INITIAL_WINDOW_SIZE, Setting};
use crate::headers::Headers;
use crate::stream::Stream;
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Poll, Waker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, trace};

/// The initial stream and session window of SPDY/3.1 (64 KiB).
pub const DEFAULT_WINDOW: i64 = 64 * 1024;
/// Largest DATA payload this side sends in one frame.
pub(crate) const MAX_CHUNK: usize = 32 * 1024;
/// Data bytes handed to the writer task and not yet written; writers wait
/// above this.
pub(crate) const QUEUE_LIMIT: usize = 256 * 1024;
/// Data buffered for one stream before the reader stops reading the
/// connection. A peer that honours our windows never gets near it; peers
/// without flow control (Go's spdystream, which Kubernetes uses) get
/// back-pressure instead.
pub(crate) const RECV_BUFFER_LIMIT: usize = 1 << 20;

/// Which end of the connection this session is: the client opens odd
/// stream ids, the server even ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

pub(crate) enum Out {
    Frame(Frame),
    /// Every handle is gone: send GOAWAY and close the connection.
    Shutdown,
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// Signalled when a stream's receive buffer shrinks.
    pub(crate) drained: Notify,
    cancel: CancellationToken,
    role: Role,
}

pub(crate) struct State {
    out: mpsc::UnboundedSender<Out>,
    pub(crate) streams: HashMap<u32, StreamState>,
    next_id: u32,
    last_peer_id: u32,
    accept_queue: VecDeque<u32>,
    /// Tasks waiting in [`Session::accept`].
    accept_wakers: Vec<Waker>,
    pub(crate) session_send_window: i64,
    session_recv_unacked: i64,
    peer_initial_window: i64,
    /// Whether the peer does SPDY/3.1 flow control (it sent a WINDOW_UPDATE
    /// or an initial window setting); until then its windows are not
    /// enforced, as Kubernetes' SPDY/3 peers never open them.
    pub(crate) peer_flow_control: bool,
    pub(crate) queued_bytes: usize,
    goaway_received: bool,
    goaway_sent: bool,
    pub(crate) closed: bool,
    /// Live [`Session`] and [`Stream`] handles.
    handles: usize,
}

pub(crate) struct StreamState {
    pub(crate) recv: VecDeque<Bytes>,
    pub(crate) recv_buffered: usize,
    pub(crate) recv_fin: bool,
    recv_unacked: i64,
    pub(crate) read_waker: Option<Waker>,
    pub(crate) send_window: i64,
    pub(crate) local_fin: bool,
    pub(crate) write_waker: Option<Waker>,
    pub(crate) reset: Option<RstStatus>,
    /// SYN_STREAM headers of an accepted stream, SYN_REPLY headers of an
    /// opened one (`None` until the reply arrives).
    peer_headers: Option<Headers>,
    reply_waker: Option<Waker>,
    /// A handle exists or the stream waits to be accepted.
    pub(crate) handle: bool,
}

impl StreamState {
    fn new(send_window: i64, peer_headers: Option<Headers>) -> Self {
        Self {
            recv: VecDeque::new(),
            recv_buffered: 0,
            recv_fin: false,
            recv_unacked: 0,
            read_waker: None,
            send_window,
            local_fin: false,
            write_waker: None,
            reset: None,
            peer_headers,
            reply_waker: None,
            handle: true,
        }
    }

    fn wake_all(&mut self) {
        for waker in [
            self.read_waker.take(),
            self.write_waker.take(),
            self.reply_waker.take(),
        ]
        .into_iter()
        .flatten()
        {
            waker.wake();
        }
    }
}

impl State {
    pub(crate) fn send(&self, frame: Frame) {
        // The writer is gone only once the connection is closed.
        let _ = self.out.send(Out::Frame(frame));
    }

    /// Counts `n` received bytes of stream `id` as consumed and opens the
    /// peer's windows again once half of one has been used. Peers without
    /// flow control get no WINDOW_UPDATE: Go's spdystream queues them with
    /// its stream frames, and upstream's CRI streaming server was seen to
    /// drop exec connections mid-stream under a steady flow of them.
    pub(crate) fn consumed(&mut self, id: u32, n: usize) {
        if n == 0 {
            return;
        }
        self.session_recv_unacked += n as i64;
        if self.peer_flow_control && self.session_recv_unacked >= DEFAULT_WINDOW / 2 {
            let delta = self.session_recv_unacked.min(0x7fff_ffff) as u32;
            self.session_recv_unacked -= i64::from(delta);
            self.send(Frame::WindowUpdate {
                stream_id: 0,
                delta,
            });
        }
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        if stream.recv_fin || stream.reset.is_some() {
            return;
        }
        stream.recv_unacked += n as i64;
        if self.peer_flow_control && stream.recv_unacked >= DEFAULT_WINDOW / 2 {
            let delta = stream.recv_unacked.min(0x7fff_ffff) as u32;
            stream.recv_unacked -= i64::from(delta);
            self.send(Frame::WindowUpdate {
                stream_id: id,
                delta,
            });
        }
    }

    fn wake_acceptors(&mut self) {
        for waker in self.accept_wakers.drain(..) {
            waker.wake();
        }
    }

    pub(crate) fn wake_writers(&mut self) {
        for stream in self.streams.values_mut() {
            if let Some(waker) = stream.write_waker.take() {
                waker.wake();
            }
        }
    }

    fn close_all(&mut self) {
        self.closed = true;
        for stream in self.streams.values_mut() {
            stream.wake_all();
        }
        self.wake_acceptors();
    }

    /// Forgets a stream nobody holds once it is closed both ways or reset.
    pub(crate) fn maybe_remove(&mut self, id: u32) {
        if let Some(s) = self.streams.get(&id)
            && !s.handle
            && (s.reset.is_some() || (s.local_fin && s.recv_fin))
        {
            self.streams.remove(&id);
        }
    }

    /// One handle fewer; the last one closes the connection.
    pub(crate) fn release_handle(&mut self) {
        self.handles -= 1;
        if self.handles == 0 {
            let _ = self.out.send(Out::Shutdown);
        }
    }
}

/// A SPDY/3.1 session. Cloning gives another handle to the same session;
/// the connection closes (after GOAWAY) once every session and stream
/// handle is dropped, or when the peer closes it.
pub struct Session {
    shared: Arc<Shared>,
}

impl Session {
    /// The session of the side that sent the upgrade request.
    pub fn client<IO>(io: IO) -> Result<Self>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::new(io, Role::Client)
    }

    /// The session of the side that answered `101 Switching Protocols`.
    pub fn server<IO>(io: IO) -> Result<Self>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::new(io, Role::Server)
    }

    /// Starts the reader and writer tasks (needs a tokio runtime).
    pub fn new<IO>(io: IO, role: Role) -> Result<Self>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (out, rx) = mpsc::unbounded_channel();
        let read_codec = Codec::new()?;
        let write_codec = Codec::new()?;
        let state = State {
            out,
            streams: HashMap::new(),
            next_id: if role == Role::Client { 1 } else { 2 },
            last_peer_id: 0,
            accept_queue: VecDeque::new(),
            accept_wakers: Vec::new(),
            session_send_window: DEFAULT_WINDOW,
            session_recv_unacked: 0,
            peer_initial_window: DEFAULT_WINDOW,
            peer_flow_control: false,
            queued_bytes: 0,
            goaway_received: false,
            goaway_sent: false,
            closed: false,
            handles: 1,
        };
        // Tell the peer we do flow control, with the default window.
        state.send(Frame::Settings {
            clear: false,
            settings: vec![Setting {
                flags: 0,
                id: SETTINGS_INITIAL_WINDOW_SIZE,
                value: DEFAULT_WINDOW as u32,
            }],
        });
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            drained: Notify::new(),
            cancel: CancellationToken::new(),
            role,
        });
        let (rd, wr) = tokio::io::split(io);
        let span = tracing::debug_span!("spdy", role = ?role);
        tokio::spawn(read_loop(shared.clone(), rd, read_codec).instrument(span.clone()));
        tokio::spawn(write_loop(shared.clone(), wr, rx, write_codec).instrument(span));
        Ok(Self { shared })
    }

    pub fn role(&self) -> Role {
        self.shared.role
    }

    /// Opens a stream with `headers` (SYN_STREAM) and waits for the peer's
    /// SYN_REPLY; the returned stream's [`Stream::headers`] are the reply's.
    pub async fn open(&self, headers: Headers) -> Result<Stream> {
        let id = {
            let mut st = self.shared.state.lock();
            if st.closed {
                return Err(Error::Closed);
            }
            if st.goaway_received {
                return Err(Error::GoneAway);
            }
            let id = st.next_id;
            if id > 0x7fff_ffff {
                return Err(Error::StreamIdsExhausted);
            }
            st.next_id += 2;
            let window = st.peer_initial_window;
            st.streams.insert(id, StreamState::new(window, None));
            st.handles += 1;
            st.send(Frame::SynStream {
                stream_id: id,
                associated_to: 0,
                priority: 0,
                fin: false,
                unidirectional: false,
                headers,
            });
            id
        };
        debug!(stream = id, "opened stream");
        let mut stream = Stream::new(self.shared.clone(), id, Headers::new());
        let reply = poll_fn(|cx| {
            let mut st = self.shared.state.lock();
            let closed = st.closed;
            let Some(s) = st.streams.get_mut(&id) else {
                return Poll::Ready(Err(Error::Closed));
            };
            if let Some(headers) = &s.peer_headers {
                return Poll::Ready(Ok(headers.clone()));
            }
            if let Some(status) = s.reset {
                return Poll::Ready(Err(Error::Reset { id, status }));
            }
            if closed {
                return Poll::Ready(Err(Error::Closed));
            }
            s.reply_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await?;
        stream.set_headers(reply);
        Ok(stream)
    }

    /// The next stream the peer opened (it has been answered with a
    /// SYN_REPLY already); `None` once the session is closed or the peer
    /// sent GOAWAY.
    pub async fn accept(&self) -> Option<Stream> {
        poll_fn(|cx| {
            let mut st = self.shared.state.lock();
            while let Some(id) = st.accept_queue.pop_front() {
                let Some(s) = st.streams.get(&id) else {
                    continue;
                };
                let headers = s.peer_headers.clone().unwrap_or_default();
                st.handles += 1;
                return Poll::Ready(Some(Stream::new(self.shared.clone(), id, headers)));
            }
            if st.closed || st.goaway_received {
                return Poll::Ready(None);
            }
            if !st.accept_wakers.iter().any(|w| w.will_wake(cx.waker())) {
                st.accept_wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Sends GOAWAY: the peer may open no more streams; open ones go on.
    pub fn goaway(&self) {
        let mut st = self.shared.state.lock();
        if !st.goaway_sent && !st.closed {
            st.goaway_sent = true;
            let last = st.last_peer_id;
            st.send(Frame::GoAway {
                last_good_stream_id: last,
                status: 0,
            });
        }
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.state.lock().closed
    }
}

impl Clone for Session {
    fn clone(&self) -> Self {
        self.shared.state.lock().handles += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shared.state.lock().release_handle();
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.shared.role)
            .finish_non_exhaustive()
    }
}

async fn read_loop<R: AsyncRead>(shared: Arc<Shared>, mut rd: ReadHalf<R>, mut codec: Codec) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let result: Result<()> = async {
        loop {
            while let Some(frame) = codec.decode(&mut buf)? {
                trace!(?frame, "received");
                if let Some(id) = handle_frame(&shared, frame)? {
                    wait_drained(&shared, id).await;
                }
            }
            if buf.capacity() - buf.len() < 16 * 1024 {
                buf.reserve(64 * 1024);
            }
            let n = tokio::select! {
                _ = shared.cancel.cancelled() => return Ok(()),
                n = rd.read_buf(&mut buf) => n?,
            };
            if n == 0 {
                return Ok(());
            }
        }
    }
    .await;
    let mut st = shared.state.lock();
    match result {
        Ok(()) => debug!("connection ended"),
        Err(e) => {
            debug!(error = %e, "reading the connection failed");
            if matches!(
                e,
                Error::Protocol(_) | Error::Compression(_) | Error::Version(_)
            ) {
                let last = st.last_peer_id;
                st.send(Frame::GoAway {
                    last_good_stream_id: last,
                    status: 1,
                });
            }
        }
    }
    st.close_all();
}

/// Waits while stream `id` holds more unread data than the buffer limit.
async fn wait_drained(shared: &Shared, id: u32) {
    loop {
        let notified = shared.drained.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let st = shared.state.lock();
            match st.streams.get(&id) {
                Some(s) if s.recv_buffered > RECV_BUFFER_LIMIT && !st.closed => {}
                _ => return,
            }
        }
        tokio::select! {
            _ = notified => {}
            _ = shared.cancel.cancelled() => return,
        }
    }
}

/// Applies one incoming frame; returns the stream whose receive buffer is
/// over the limit, if this frame put it there.
fn handle_frame(shared: &Shared, frame: Frame) -> Result<Option<u32>> {
    let mut st = shared.state.lock();
    let peer_parity = if shared.role == Role::Client { 0 } else { 1 };
    match frame {
        Frame::SynStream {
            stream_id,
            fin,
            unidirectional,
            headers,
            ..
        } => {
            if stream_id % 2 != peer_parity || stream_id <= st.last_peer_id {
                st.send(Frame::RstStream {
                    stream_id,
                    status: RstStatus::PROTOCOL_ERROR,
                });
                return Ok(None);
            }
            st.last_peer_id = stream_id;
            if st.goaway_sent {
                st.send(Frame::RstStream {
                    stream_id,
                    status: RstStatus::REFUSED_STREAM,
                });
                return Ok(None);
            }
            debug!(stream = stream_id, ?headers, "peer opened stream");
            let mut stream = StreamState::new(st.peer_initial_window, Some(headers));
            stream.recv_fin = fin;
            // A unidirectional stream gets no reply and no data back.
            stream.local_fin = unidirectional;
            st.streams.insert(stream_id, stream);
            if !unidirectional {
                st.send(Frame::SynReply {
                    stream_id,
                    fin: false,
                    headers: Headers::new(),
                });
            }
            st.accept_queue.push_back(stream_id);
            st.wake_acceptors();
        }
        Frame::SynReply {
            stream_id,
            fin,
            headers,
        }
        | Frame::Headers {
            stream_id,
            fin,
            headers,
        } => {
            if let Some(s) = st.streams.get_mut(&stream_id) {
                if s.peer_headers.is_none() {
                    s.peer_headers = Some(headers);
                }
                if fin {
                    s.recv_fin = true;
                }
                s.wake_all();
                st.maybe_remove(stream_id);
            }
        }
        Frame::RstStream { stream_id, status } => {
            debug!(stream = stream_id, %status, "peer reset stream");
            if let Some(s) = st.streams.get_mut(&stream_id) {
                s.reset.get_or_insert(status);
                s.wake_all();
                st.maybe_remove(stream_id);
            }
        }
        Frame::Settings { settings, .. } => {
            for setting in settings {
                if setting.id == SETTINGS_INITIAL_WINDOW_SIZE {
                    let value = i64::from(setting.value & 0x7fff_ffff);
                    let delta = value - st.peer_initial_window;
                    st.peer_initial_window = value;
                    st.peer_flow_control = true;
                    for s in st.streams.values_mut() {
                        s.send_window += delta;
                    }
                }
            }
            st.wake_writers();
        }
        Frame::Ping { id } => {
            // Answer the peer's pings; ours (we send none) would come back
            // with our parity.
            if id % 2 == 1 - peer_parity {
                return Ok(None);
            }
            st.send(Frame::Ping { id });
        }
        Frame::GoAway {
            last_good_stream_id,
            status,
        } => {
            debug!(last_good_stream_id, status, "peer sent GOAWAY");
            st.goaway_received = true;
            let ours = 1 - peer_parity;
            for (id, s) in st.streams.iter_mut() {
                if id % 2 == ours && *id > last_good_stream_id && s.peer_headers.is_none() {
                    s.reset.get_or_insert(RstStatus::REFUSED_STREAM);
                    s.wake_all();
                }
            }
            st.wake_acceptors();
        }
        Frame::WindowUpdate { stream_id, delta } => {
            st.peer_flow_control = true;
            if stream_id == 0 {
                st.session_send_window += i64::from(delta);
            } else if let Some(s) = st.streams.get_mut(&stream_id) {
                s.send_window += i64::from(delta);
            }
            st.wake_writers();
        }
        Frame::Data {
            stream_id,
            fin,
            data,
        } => {
            let n = data.len();
            let Some(s) = st.streams.get_mut(&stream_id) else {
                // A stream already forgotten (reset): drop the data but
                // keep the session window open.
                st.consumed(stream_id, n);
                return Ok(None);
            };
            if s.reset.is_some() || s.recv_fin {
                let already_closed = s.reset.is_none();
                st.consumed(stream_id, n);
                if already_closed {
                    st.send(Frame::RstStream {
                        stream_id,
                        status: RstStatus::STREAM_ALREADY_CLOSED,
                    });
                }
                return Ok(None);
            }
            if !s.handle {
                // Nobody reads this stream any more.
                s.recv_fin |= fin;
                st.consumed(stream_id, n);
                st.maybe_remove(stream_id);
                return Ok(None);
            }
            if n > 0 {
                s.recv_buffered += n;
                s.recv.push_back(data);
            }
            s.recv_fin |= fin;
            if let Some(waker) = s.read_waker.take() {
                waker.wake();
            }
            if s.recv_buffered > RECV_BUFFER_LIMIT {
                return Ok(Some(stream_id));
            }
        }
    }
    Ok(None)
}

async fn write_loop<W: AsyncWrite>(
    shared: Arc<Shared>,
    mut wr: WriteHalf<W>,
    mut rx: mpsc::UnboundedReceiver<Out>,
    mut codec: Codec,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let result: Result<()> = async {
        while let Some(first) = rx.recv().await {
            let mut data_bytes = 0;
            let mut shutdown = false;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Out::Frame(frame) => {
                        trace!(?frame, "sending");
                        if let Frame::Data { data, .. } = &frame {
                            data_bytes += data.len();
                        }
                        codec.encode(&frame, &mut buf)?;
                    }
                    Out::Shutdown => {
                        shutdown = true;
                        break;
                    }
                }
                if buf.len() < QUEUE_LIMIT {
                    next = rx.try_recv().ok();
                }
            }
            if shutdown {
                let mut st = shared.state.lock();
                if !st.goaway_sent {
                    st.goaway_sent = true;
                    codec.encode(
                        &Frame::GoAway {
                            last_good_stream_id: st.last_peer_id,
                            status: 0,
                        },
                        &mut buf,
                    )?;
                }
            }
            wr.write_all(&buf).await?;
            wr.flush().await?;
            buf.clear();
            if data_bytes > 0 {
                let mut st = shared.state.lock();
                st.queued_bytes -= data_bytes;
                st.wake_writers();
            }
            if shutdown {
                debug!("all handles dropped; closing the connection");
                wr.shutdown().await?;
                return Ok(());
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        debug!(error = %e, "writing the connection failed");
    }
    shared.cancel.cancel();
    shared.state.lock().close_all();
}
