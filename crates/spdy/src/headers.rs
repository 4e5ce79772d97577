//! Header lists of SYN_STREAM, SYN_REPLY and HEADERS frames, and their
//! uncompressed name/value block encoding.

use crate::error::{Error, Result};
use bytes::{Buf, BufMut, BytesMut};

/// A header list. Names are kept lowercase (SPDY requires it on the wire);
/// lookups ignore case, so `get("streamType")` finds `streamtype`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `name: value` (the name is lowercased).
    pub fn add(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.0.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Builder form of [`Headers::add`].
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.add(name, value);
        self
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name/value block: a count, then each name once with its values
    /// joined by NUL (repeated names are one entry on the wire).
    pub(crate) fn encode_block(&self, out: &mut BytesMut) {
        let mut names: Vec<&str> = Vec::new();
        for (name, _) in &self.0 {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        out.put_u32(names.len() as u32);
        for name in names {
            out.put_u32(name.len() as u32);
            out.put_slice(name.as_bytes());
            let values: Vec<&str> = self.get_all(name).collect();
            let joined = values.join("\0");
            out.put_u32(joined.len() as u32);
            out.put_slice(joined.as_bytes());
        }
    }

    /// Parses a decompressed name/value block.
    pub(crate) fn decode_block(mut block: &[u8]) -> Result<Self> {
        let count = read_u32(&mut block)?;
        let mut headers = Headers::new();
        for _ in 0..count {
            let name = read_string(&mut block)?;
            if name.is_empty() {
                return Err(Error::Protocol("empty header name".into()));
            }
            let value = read_string(&mut block)?;
            for part in value.split('\0') {
                headers.add(&name, part);
            }
        }
        Ok(headers)
    }
}

impl<N: AsRef<str>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<T: IntoIterator<Item = (N, V)>>(iter: T) -> Self {
        let mut headers = Headers::new();
        for (name, value) in iter {
            headers.add(name.as_ref(), value);
        }
        headers
    }
}

fn read_u32(block: &mut &[u8]) -> Result<u32> {
    if block.remaining() < 4 {
        return Err(Error::Protocol("truncated header block".into()));
    }
    Ok(block.get_u32())
}

fn read_string(block: &mut &[u8]) -> Result<String> {
    let len = read_u32(block)? as usize;
    if block.remaining() < len {
        return Err(Error::Protocol("truncated header block".into()));
    }
    let text = std::str::from_utf8(&block[..len])
        .map_err(|_| Error::Protocol("header is not UTF-8".into()))?
        .to_string();
    block.advance(len);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_share_one_entry() {
        let headers = Headers::new()
            .with("X-Stream-Protocol-Version", "v4.channel.k8s.io")
            .with("streamType", "stdin")
            .with("x-stream-protocol-version", "v3.channel.k8s.io");
        let mut block = BytesMut::new();
        headers.encode_block(&mut block);
        assert_eq!(&block[..4], &2u32.to_be_bytes());
        let back = Headers::decode_block(&block).expect("decodes");
        assert_eq!(
            back.get_all("X-Stream-Protocol-Version")
                .collect::<Vec<_>>(),
            ["v4.channel.k8s.io", "v3.channel.k8s.io"]
        );
        assert_eq!(back.get("STREAMTYPE"), Some("stdin"));
    }

    #[test]
    fn truncated_blocks_are_errors() {
        assert!(Headers::decode_block(&[0, 0, 0, 1, 0, 0, 0, 9, b'a']).is_err());
        assert!(Headers::decode_block(&[0, 0]).is_err());
    }
}
