//! The WebSocket half of a translated stream: the client's upgraded
//! connection split into a message reader and a writer task fed by a channel.

use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::websocket::{self, NORMAL_CLOSURE, Reader, opcode};

/// How long the writer gets to flush after the exchange ends.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames to send: (opcode, payload).
pub type Outbox = mpsc::Sender<(u8, Vec<u8>)>;

/// The reading half of a connection.
pub type ReadIo = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a connection.
type WriteIo = Box<dyn AsyncWrite + Send + Unpin>;

/// The client's side once it switched protocols.
pub struct WsConn {
    /// Its messages.
    pub reader: Reader<BufReader<ReadIo>>,
    /// Where frames to it go.
    pub outbox: Outbox,
    writer: JoinHandle<()>,
}

impl WsConn {
    /// Waits for the client's upgrade; `None` (logged) when it fails.
    pub async fn accept(client: OnUpgrade) -> Option<WsConn> {
        match client.await {
            Ok(io) => Some(WsConn::over(TokioIo::new(io))),
            Err(e) => {
                tracing::debug!(error = %e, "client upgrade failed");
                None
            }
        }
    }

    /// Speaks WebSocket (as the server) over `io`.
    pub fn over<IO>(io: IO) -> WsConn
    where
        IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (rd, wr) = tokio::io::split(io);
        let (outbox, rx) = mpsc::channel(64);
        let writer = tokio::spawn(write_loop(Box::new(wr), rx));
        WsConn {
            reader: Reader::new(BufReader::new(Box::new(rd) as ReadIo)),
            outbox,
            writer,
        }
    }

    /// Ends the exchange: a close frame unless one was sent, then waits
    /// (boundedly) for the writer.
    pub async fn finish(self) {
        let WsConn {
            reader,
            outbox,
            writer,
        } = self;
        let _ = outbox.try_send((opcode::CLOSE, NORMAL_CLOSURE.to_vec()));
        drop(outbox);
        drop(reader);
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, writer).await;
    }
}

async fn write_loop(mut wr: WriteIo, mut rx: mpsc::Receiver<(u8, Vec<u8>)>) {
    let mut closed = false;
    while let Some((op, data)) = rx.recv().await {
        if closed {
            continue;
        }
        if let Err(e) = websocket::write_frame(&mut wr, op, &data).await {
            tracing::debug!(error = %e, "websocket write failed");
            return;
        }
        closed = op == opcode::CLOSE;
    }
    if !closed {
        let _ = websocket::write_frame(&mut wr, opcode::CLOSE, &NORMAL_CLOSURE).await;
    }
    let _ = wr.shutdown().await;
}
