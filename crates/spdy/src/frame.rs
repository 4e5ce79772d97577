//! SPDY/3.1 frames and their wire encoding ([`Codec`] keeps the two header
//! compression contexts of a session).

use crate::compression::{HeaderCompressor, HeaderDecompressor};
use crate::error::{Error, Result};
use crate::headers::Headers;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::fmt;

/// The protocol version in every control frame.
pub const VERSION: u16 = 3;
/// Largest payload a frame may carry (the length field has 24 bits).
pub const MAX_FRAME_PAYLOAD: usize = (1 << 24) - 1;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

const FLAG_FIN: u8 = 0x01;
const FLAG_UNIDIRECTIONAL: u8 = 0x02;
const FLAG_CLEAR_SETTINGS: u8 = 0x01;

/// SETTINGS id of the initial stream window size.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;
/// SETTINGS id of the most concurrent streams a peer accepts.
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u32 = 4;

/// An RST_STREAM status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RstStatus(pub u32);

impl RstStatus {
    pub const PROTOCOL_ERROR: Self = Self(1);
    pub const INVALID_STREAM: Self = Self(2);
    pub const REFUSED_STREAM: Self = Self(3);
    pub const UNSUPPORTED_VERSION: Self = Self(4);
    pub const CANCEL: Self = Self(5);
    pub const INTERNAL_ERROR: Self = Self(6);
    pub const FLOW_CONTROL_ERROR: Self = Self(7);
    pub const STREAM_IN_USE: Self = Self(8);
    pub const STREAM_ALREADY_CLOSED: Self = Self(9);
    pub const FRAME_TOO_LARGE: Self = Self(11);
}

impl fmt::Display for RstStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            1 => "PROTOCOL_ERROR",
            2 => "INVALID_STREAM",
            3 => "REFUSED_STREAM",
            4 => "UNSUPPORTED_VERSION",
            5 => "CANCEL",
            6 => "INTERNAL_ERROR",
            7 => "FLOW_CONTROL_ERROR",
            8 => "STREAM_IN_USE",
            9 => "STREAM_ALREADY_CLOSED",
            11 => "FRAME_TOO_LARGE",
            other => return write!(f, "status {other}"),
        };
        f.write_str(name)
    }
}

/// One SETTINGS entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub flags: u8,
    pub id: u32,
    pub value: u32,
}

/// A SPDY/3.1 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated_to: u32,
        /// 0 (highest) to 7.
        priority: u8,
        fin: bool,
        unidirectional: bool,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: RstStatus,
    },
    Settings {
        clear: bool,
        settings: Vec<Setting>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    WindowUpdate {
        /// 0 for the session window.
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        fin: bool,
        data: Bytes,
    },
}

/// Encodes and decodes frames for one session: the compression context of
/// what we send and the decompression context of what we receive.
pub struct Codec {
    compressor: HeaderCompressor,
    decompressor: HeaderDecompressor,
}

impl Codec {
    pub fn new() -> Result<Self> {
        Ok(Self {
            compressor: HeaderCompressor::new()?,
            decompressor: HeaderDecompressor::new(),
        })
    }

    /// Appends `frame` to `out`.
    pub fn encode(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<()> {
        match frame {
            Frame::Data {
                stream_id,
                fin,
                data,
            } => {
                check_len(data.len())?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32((u32::from(flag(*fin, FLAG_FIN)) << 24) | data.len() as u32);
                out.put_slice(data);
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                fin,
                unidirectional,
                headers,
            } => {
                let block = self.header_block(headers)?;
                let mut payload = BytesMut::with_capacity(10 + block.len());
                payload.put_u32(stream_id & 0x7fff_ffff);
                payload.put_u32(associated_to & 0x7fff_ffff);
                payload.put_u8((priority & 0x07) << 5);
                payload.put_u8(0); // slot
                payload.put_slice(&block);
                let flags = flag(*fin, FLAG_FIN) | flag(*unidirectional, FLAG_UNIDIRECTIONAL);
                control(out, TYPE_SYN_STREAM, flags, &payload)?;
            }
            Frame::SynReply {
                stream_id,
                fin,
                headers,
            } => {
                let payload = self.stream_and_block(*stream_id, headers)?;
                control(out, TYPE_SYN_REPLY, flag(*fin, FLAG_FIN), &payload)?;
            }
            Frame::Headers {
                stream_id,
                fin,
                headers,
            } => {
                let payload = self.stream_and_block(*stream_id, headers)?;
                control(out, TYPE_HEADERS, flag(*fin, FLAG_FIN), &payload)?;
            }
            Frame::RstStream { stream_id, status } => {
                let mut payload = [0u8; 8];
                payload[..4].copy_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                payload[4..].copy_from_slice(&status.0.to_be_bytes());
                control(out, TYPE_RST_STREAM, 0, &payload)?;
            }
            Frame::Settings { clear, settings } => {
                let mut payload = BytesMut::with_capacity(4 + 8 * settings.len());
                payload.put_u32(settings.len() as u32);
                for s in settings {
                    payload.put_u32((u32::from(s.flags) << 24) | (s.id & 0x00ff_ffff));
                    payload.put_u32(s.value);
                }
                control(
                    out,
                    TYPE_SETTINGS,
                    flag(*clear, FLAG_CLEAR_SETTINGS),
                    &payload,
                )?;
            }
            Frame::Ping { id } => control(out, TYPE_PING, 0, &id.to_be_bytes())?,
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                let mut payload = [0u8; 8];
                payload[..4].copy_from_slice(&(last_good_stream_id & 0x7fff_ffff).to_be_bytes());
                payload[4..].copy_from_slice(&status.to_be_bytes());
                control(out, TYPE_GOAWAY, 0, &payload)?;
            }
            Frame::WindowUpdate { stream_id, delta } => {
                let mut payload = [0u8; 8];
                payload[..4].copy_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                payload[4..].copy_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
                control(out, TYPE_WINDOW_UPDATE, 0, &payload)?;
            }
        }
        Ok(())
    }

    /// Takes one whole frame off the front of `buf`, or `None` if `buf`
    /// holds only part of one. Control frames of unknown types are skipped
    /// (as the spec says) and come back as `Ok(None)` once consumed, so call
    /// again while `buf` is not empty.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>> {
        loop {
            if buf.len() < 8 {
                return Ok(None);
            }
            let word = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            let flags = buf[4];
            let len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
            if buf.len() < 8 + len {
                buf.reserve(8 + len - buf.len());
                return Ok(None);
            }
            buf.advance(8);
            let payload = buf.split_to(len).freeze();
            if word & 0x8000_0000 == 0 {
                let stream_id = word & 0x7fff_ffff;
                if stream_id == 0 {
                    return Err(Error::Protocol("DATA frame on stream 0".into()));
                }
                return Ok(Some(Frame::Data {
                    stream_id,
                    fin: flags & FLAG_FIN != 0,
                    data: payload,
                }));
            }
            let version = ((word >> 16) & 0x7fff) as u16;
            if version != VERSION {
                return Err(Error::Version(version));
            }
            let kind = (word & 0xffff) as u16;
            if let Some(frame) = self.control_frame(kind, flags, payload)? {
                return Ok(Some(frame));
            }
        }
    }

    fn control_frame(&mut self, kind: u16, flags: u8, mut p: Bytes) -> Result<Option<Frame>> {
        let fin = flags & FLAG_FIN != 0;
        let need = |p: &Bytes, n: usize, what: &str| {
            if p.len() < n {
                Err(Error::Protocol(format!("short {what} frame")))
            } else {
                Ok(())
            }
        };
        let frame = match kind {
            TYPE_SYN_STREAM => {
                need(&p, 10, "SYN_STREAM")?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                let associated_to = p.get_u32() & 0x7fff_ffff;
                let priority = p.get_u8() >> 5;
                let _slot = p.get_u8();
                Frame::SynStream {
                    stream_id,
                    associated_to,
                    priority,
                    fin,
                    unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                    headers: self.parse_block(&p)?,
                }
            }
            TYPE_SYN_REPLY | TYPE_HEADERS => {
                need(&p, 4, "SYN_REPLY/HEADERS")?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                let headers = self.parse_block(&p)?;
                if kind == TYPE_SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        fin,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        fin,
                        headers,
                    }
                }
            }
            TYPE_RST_STREAM => {
                need(&p, 8, "RST_STREAM")?;
                Frame::RstStream {
                    stream_id: p.get_u32() & 0x7fff_ffff,
                    status: RstStatus(p.get_u32()),
                }
            }
            TYPE_SETTINGS => {
                need(&p, 4, "SETTINGS")?;
                let count = p.get_u32() as usize;
                if p.len() != count.saturating_mul(8) {
                    return Err(Error::Protocol("SETTINGS length mismatch".into()));
                }
                let settings = (0..count)
                    .map(|_| {
                        let word = p.get_u32();
                        Setting {
                            flags: (word >> 24) as u8,
                            id: word & 0x00ff_ffff,
                            value: p.get_u32(),
                        }
                    })
                    .collect();
                Frame::Settings {
                    clear: flags & FLAG_CLEAR_SETTINGS != 0,
                    settings,
                }
            }
            TYPE_PING => {
                need(&p, 4, "PING")?;
                Frame::Ping { id: p.get_u32() }
            }
            TYPE_GOAWAY => {
                need(&p, 4, "GOAWAY")?;
                let last_good_stream_id = p.get_u32() & 0x7fff_ffff;
                // SPDY/2 peers send no status.
                let status = if p.len() >= 4 { p.get_u32() } else { 0 };
                Frame::GoAway {
                    last_good_stream_id,
                    status,
                }
            }
            TYPE_WINDOW_UPDATE => {
                need(&p, 8, "WINDOW_UPDATE")?;
                Frame::WindowUpdate {
                    stream_id: p.get_u32() & 0x7fff_ffff,
                    delta: p.get_u32() & 0x7fff_ffff,
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(frame))
    }

    fn header_block(&mut self, headers: &Headers) -> Result<Vec<u8>> {
        let mut block = BytesMut::new();
        headers.encode_block(&mut block);
        self.compressor.compress(&block)
    }

    fn parse_block(&mut self, compressed: &[u8]) -> Result<Headers> {
        if compressed.is_empty() {
            return Ok(Headers::new());
        }
        Headers::decode_block(&self.decompressor.decompress(compressed)?)
    }

    fn stream_and_block(&mut self, stream_id: u32, headers: &Headers) -> Result<BytesMut> {
        let block = self.header_block(headers)?;
        let mut payload = BytesMut::with_capacity(4 + block.len());
        payload.put_u32(stream_id & 0x7fff_ffff);
        payload.put_slice(&block);
        Ok(payload)
    }
}

fn flag(set: bool, bit: u8) -> u8 {
    if set { bit } else { 0 }
}

fn check_len(len: usize) -> Result<()> {
    if len > MAX_FRAME_PAYLOAD {
        return Err(Error::Protocol(format!("frame payload of {len} bytes")));
    }
    Ok(())
}

fn control(out: &mut BytesMut, kind: u16, flags: u8, payload: &[u8]) -> Result<()> {
    check_len(payload.len())?;
    out.put_u16(0x8000 | VERSION);
    out.put_u16(kind);
    out.put_u32((u32::from(flags) << 24) | payload.len() as u32);
    out.put_slice(payload);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_frame() -> Vec<Frame> {
        let headers = Headers::new()
            .with("streamtype", "stdout")
            .with("port", "8080")
            .with("requestid", "0");
        vec![
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 3,
                fin: false,
                unidirectional: false,
                headers: headers.clone(),
            },
            Frame::SynStream {
                stream_id: 3,
                associated_to: 1,
                priority: 7,
                fin: true,
                unidirectional: true,
                headers: Headers::new(),
            },
            Frame::SynReply {
                stream_id: 1,
                fin: false,
                headers: Headers::new(),
            },
            Frame::SynReply {
                stream_id: 3,
                fin: true,
                headers: headers.clone(),
            },
            Frame::RstStream {
                stream_id: 5,
                status: RstStatus::CANCEL,
            },
            Frame::Settings {
                clear: true,
                settings: vec![
                    Setting {
                        flags: 0,
                        id: SETTINGS_INITIAL_WINDOW_SIZE,
                        value: 65536,
                    },
                    Setting {
                        flags: 1,
                        id: SETTINGS_MAX_CONCURRENT_STREAMS,
                        value: 100,
                    },
                ],
            },
            Frame::Ping { id: 0xdead_beef },
            Frame::GoAway {
                last_good_stream_id: 7,
                status: 2,
            },
            Frame::Headers {
                stream_id: 7,
                fin: true,
                headers,
            },
            Frame::WindowUpdate {
                stream_id: 0,
                delta: 1 << 20,
            },
            Frame::WindowUpdate {
                stream_id: 9,
                delta: 0x7fff_ffff,
            },
            Frame::Data {
                stream_id: 1,
                fin: false,
                data: Bytes::from_static(b"hello"),
            },
            Frame::Data {
                stream_id: 0x7fff_ffff,
                fin: true,
                data: Bytes::new(),
            },
        ]
    }

    #[test]
    fn every_frame_round_trips() {
        let mut tx = Codec::new().expect("codec");
        let mut rx = Codec::new().expect("codec");
        let mut wire = BytesMut::new();
        for frame in every_frame() {
            tx.encode(&frame, &mut wire).expect("encode");
        }
        for frame in every_frame() {
            assert_eq!(rx.decode(&mut wire).expect("decode"), Some(frame));
        }
        assert!(wire.is_empty());
        assert_eq!(rx.decode(&mut wire).expect("decode"), None);
    }

    #[test]
    fn each_direction_keeps_its_own_context() {
        // Two endpoints, each with a codec; header frames cross both ways,
        // interleaved, every block depending on the ones before it.
        let mut a = Codec::new().expect("codec");
        let mut b = Codec::new().expect("codec");
        for n in 0u32..6 {
            let opened = Frame::SynStream {
                stream_id: 2 * n + 1,
                associated_to: 0,
                priority: 0,
                fin: false,
                unidirectional: false,
                headers: Headers::new()
                    .with("streamtype", ["error", "stdin", "stdout"][n as usize % 3])
                    .with("requestid", n.to_string()),
            };
            let replied = Frame::SynReply {
                stream_id: 2 * n + 1,
                fin: n % 2 == 0,
                headers: Headers::new().with("n", n.to_string()),
            };
            let mut wire = BytesMut::new();
            a.encode(&opened, &mut wire).expect("encode");
            assert_eq!(b.decode(&mut wire).expect("decode"), Some(opened));
            b.encode(&replied, &mut wire).expect("encode");
            assert_eq!(a.decode(&mut wire).expect("decode"), Some(replied));
        }
    }

    #[test]
    fn partial_frames_wait_for_the_rest() {
        let mut tx = Codec::new().expect("codec");
        let mut rx = Codec::new().expect("codec");
        let mut wire = BytesMut::new();
        let frame = every_frame().remove(0);
        tx.encode(&frame, &mut wire).expect("encode");
        let whole = wire.split().freeze();
        let mut buf = BytesMut::new();
        for (i, byte) in whole.iter().enumerate() {
            assert_eq!(rx.decode(&mut buf).expect("decode"), None, "at byte {i}");
            buf.put_u8(*byte);
        }
        assert_eq!(rx.decode(&mut buf).expect("decode"), Some(frame));
    }

    #[test]
    fn wire_layout_of_a_control_frame() {
        let mut tx = Codec::new().expect("codec");
        let mut wire = BytesMut::new();
        tx.encode(&Frame::Ping { id: 1 }, &mut wire)
            .expect("encode");
        assert_eq!(&wire[..], &[0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
        wire.clear();
        let data = Frame::Data {
            stream_id: 3,
            fin: true,
            data: Bytes::from_static(b"ab"),
        };
        tx.encode(&data, &mut wire).expect("encode");
        assert_eq!(&wire[..], &[0, 0, 0, 3, 1, 0, 0, 2, b'a', b'b']);
    }

    #[test]
    fn unknown_control_frames_are_skipped() {
        let mut wire = BytesMut::new();
        // A CREDENTIAL frame (type 10) then a PING.
        wire.put_slice(&[0x80, 3, 0, 10, 0, 0, 0, 2, 9, 9]);
        wire.put_slice(&[0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 2]);
        let mut rx = Codec::new().expect("codec");
        assert_eq!(
            rx.decode(&mut wire).expect("decode"),
            Some(Frame::Ping { id: 2 })
        );
    }

    #[test]
    fn other_versions_are_refused() {
        let mut wire = BytesMut::from(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 2][..]);
        let mut rx = Codec::new().expect("codec");
        assert!(matches!(rx.decode(&mut wire), Err(Error::Version(2))));
    }
}
