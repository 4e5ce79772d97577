//! Header block compression: one zlib stream per direction per session,
//! primed with the SPDY/3 dictionary, each block ending on a sync flush.

use crate::dictionary::DICTIONARY;
use crate::error::{Error, Result};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Largest decompressed header block accepted (a guard against zlib bombs).
const MAX_BLOCK: usize = 1 << 20;

/// The sending side's compression context.
pub(crate) struct HeaderCompressor {
    zlib: Compress,
}

impl HeaderCompressor {
    pub(crate) fn new() -> Result<Self> {
        let mut zlib = Compress::new(Compression::default(), true);
        zlib.set_dictionary(&DICTIONARY)
            .map_err(|e| Error::Compression(e.to_string()))?;
        Ok(Self { zlib })
    }

    /// Compresses one header block; the output ends on a byte boundary
    /// (sync flush) so the peer can inflate it on its own.
    pub(crate) fn compress(&mut self, block: &[u8]) -> Result<Vec<u8>> {
        let start = self.zlib.total_in();
        let mut out = Vec::with_capacity(block.len() / 2 + 64);
        loop {
            let consumed = (self.zlib.total_in() - start) as usize;
            out.reserve(256);
            self.zlib
                .compress_vec(&block[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| Error::Compression(e.to_string()))?;
            let all_in = (self.zlib.total_in() - start) as usize == block.len();
            if all_in && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// The receiving side's decompression context.
pub(crate) struct HeaderDecompressor {
    zlib: Decompress,
}

impl HeaderDecompressor {
    pub(crate) fn new() -> Self {
        Self {
            zlib: Decompress::new(true),
        }
    }

    /// Inflates one compressed header block.
    pub(crate) fn decompress(&mut self, block: &[u8]) -> Result<Vec<u8>> {
        let start = self.zlib.total_in();
        let mut out = Vec::with_capacity(block.len() * 4 + 64);
        loop {
            let consumed = (self.zlib.total_in() - start) as usize;
            let before = (consumed, out.len());
            if out.capacity() - out.len() < 256 {
                out.reserve(out.capacity().max(256));
            }
            match self
                .zlib
                .decompress_vec(&block[consumed..], &mut out, FlushDecompress::Sync)
            {
                Ok(Status::StreamEnd) => {
                    return Err(Error::Compression("header stream ended".into()));
                }
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.zlib
                        .set_dictionary(&DICTIONARY)
                        .map_err(|e| Error::Compression(e.to_string()))?;
                    continue;
                }
                Err(e) => return Err(Error::Compression(e.to_string())),
            }
            let consumed = (self.zlib.total_in() - start) as usize;
            if out.len() > MAX_BLOCK {
                return Err(Error::Compression("header block too large".into()));
            }
            if consumed == block.len() && out.len() < out.capacity() {
                return Ok(out);
            }
            if (consumed, out.len()) == before {
                return Err(Error::Compression("truncated header block".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::Headers;
    use bytes::BytesMut;

    fn block(headers: &Headers) -> Vec<u8> {
        let mut out = BytesMut::new();
        headers.encode_block(&mut out);
        out.to_vec()
    }

    #[test]
    fn blocks_share_one_context_per_direction() {
        let mut tx = HeaderCompressor::new().expect("compressor");
        let mut rx = HeaderDecompressor::new();
        let mut sizes = Vec::new();
        for kind in ["error", "stdin", "stdout", "stderr", "stdout"] {
            let headers = Headers::new()
                .with("streamtype", kind)
                .with("x-stream-protocol-version", "v4.channel.k8s.io");
            let wire = tx.compress(&block(&headers)).expect("compress");
            sizes.push(wire.len());
            let back = rx.decompress(&wire).expect("decompress");
            assert_eq!(Headers::decode_block(&back).expect("parse"), headers);
        }
        // The first block carries the zlib header with the dictionary id;
        // later ones reuse the window and come out smaller.
        assert!(sizes[4] < sizes[0], "{sizes:?}");
    }

    #[test]
    fn first_block_names_the_spdy3_dictionary() {
        let mut tx = HeaderCompressor::new().expect("compressor");
        let wire = tx
            .compress(&block(&Headers::new().with("streamtype", "data")))
            .expect("compress");
        // FDICT set in the zlib header, then the dictionary's Adler-32.
        assert_eq!(wire[1] & 0x20, 0x20);
        assert_eq!(&wire[2..6], &[0xe3, 0xc6, 0xa7, 0xc2]);
    }

    /// A block produced by C zlib (Python's `zlib.compressobj(zdict=...)`,
    /// `Z_SYNC_FLUSH`): `streamtype: error`, `port: 8080`.
    #[test]
    fn inflates_c_zlib_output() {
        let wire = include_bytes!("../testdata/c-zlib-block.bin");
        let mut rx = HeaderDecompressor::new();
        let back = Headers::decode_block(&rx.decompress(wire).expect("inflate")).expect("parse");
        assert_eq!(back.get("streamType"), Some("error"));
        assert_eq!(back.get("port"), Some("8080"));
    }

    #[test]
    fn garbage_is_an_error() {
        let mut rx = HeaderDecompressor::new();
        assert!(
            rx.decompress(&[0x38, 0xea, 0xe3, 0xc6, 0xa7, 0xc3, 1, 2])
                .is_err()
        );
    }
}
