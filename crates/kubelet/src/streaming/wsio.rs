//! The WebSocket half of a translated stream: the client's upgraded
//! connection split into a message reader and a writer task fed by a channel.

use std::time::Duration;

use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::websocket::{self, NORMAL_CLOSURE, Reader, opcode};

/// How long the writer gets to flush after the exchange ends.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames to send: (opcode, payload).
pub type Outbox = mpsc::Sender<(u8, Vec<u8>)>;

/// The client's side once it switched protocols.
pub struct WsConn {
    /// Its messages.
    pub reader: Reader<BufReader<ReadHalf<TokioIo<Upgraded>>>>,
    /// Where frames to it go.
    pub outbox: Outbox,
    writer: JoinHandle<()>,
}

impl WsConn {
    /// Waits for the client's upgrade; `None` (logged) when it fails.
    pub async fn accept(client: OnUpgrade) -> Option<WsConn> {
        let io = match client.await {
            Ok(io) => TokioIo::new(io),
            Err(e) => {
                tracing::debug!(error = %e, "client upgrade failed");
                return None;
            }
        };
        let (rd, wr) = tokio::io::split(io);
        let (outbox, rx) = mpsc::channel(64);
        let writer = tokio::spawn(write_loop(wr, rx));
        Some(WsConn {
            reader: Reader::new(BufReader::new(rd)),
            outbox,
            writer,
        })
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

async fn write_loop(mut wr: WriteHalf<TokioIo<Upgraded>>, mut rx: mpsc::Receiver<(u8, Vec<u8>)>) {
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
