//! Low-level protobuf wire format: varints, field keys, length-delimited reads and writes.

use crate::ProtobufError;

/// Wire type of varint-encoded scalars.
pub const VARINT: u8 = 0;
/// Wire type of 8-byte little-endian scalars (double).
pub const FIXED64: u8 = 1;
/// Wire type of strings, bytes, messages and packed repeated scalars.
pub const LEN: u8 = 2;
/// Wire type of 4-byte little-endian scalars (float).
pub const FIXED32: u8 = 5;

/// A cursor over protobuf bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = *self.buf.get(self.pos).ok_or(ProtobufError::Truncated)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::BadVarint)
    }

    /// Reads a field key, returning (field number, wire type).
    pub fn key(&mut self) -> Result<(u32, u8), ProtobufError> {
        let key = self.varint()?;
        let field = key >> 3;
        let wire_type = (key & 7) as u8;
        if field == 0 || field > u64::from(u32::MAX >> 3) || !matches!(wire_type, 0 | 1 | 2 | 5) {
            return Err(ProtobufError::BadKey { field, wire_type });
        }
        Ok((field as u32, wire_type))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], ProtobufError> {
        let len = usize::try_from(self.varint()?).map_err(|_| ProtobufError::Truncated)?;
        let end = self.pos.checked_add(len).ok_or(ProtobufError::Truncated)?;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or(ProtobufError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    pub fn fixed64(&mut self) -> Result<u64, ProtobufError> {
        let end = self.pos + 8;
        let raw = self
            .buf
            .get(self.pos..end)
            .ok_or(ProtobufError::Truncated)?;
        self.pos = end;
        let mut arr = [0u8; 8];
        arr.copy_from_slice(raw);
        Ok(u64::from_le_bytes(arr))
    }

    pub fn fixed32(&mut self) -> Result<u32, ProtobufError> {
        let end = self.pos + 4;
        let raw = self
            .buf
            .get(self.pos..end)
            .ok_or(ProtobufError::Truncated)?;
        self.pos = end;
        let mut arr = [0u8; 4];
        arr.copy_from_slice(raw);
        Ok(u32::from_le_bytes(arr))
    }

    /// Skips one value of the given wire type (an unknown field).
    pub fn skip(&mut self, wire_type: u8) -> Result<(), ProtobufError> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed64().map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.fixed32().map(drop),
            other => Err(ProtobufError::BadKey {
                field: 0,
                wire_type: other,
            }),
        }
    }
}

pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub fn put_key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

pub fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Writes a signed varint field the way Go does (negative numbers sign-extended to 64 bits).
pub fn put_int(out: &mut Vec<u8>, field: u32, value: i64) {
    put_key(out, field, VARINT);
    put_varint(out, value as u64);
}
