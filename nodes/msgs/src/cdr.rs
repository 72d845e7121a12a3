//! CDR (XCDR1) encoding with the 4-byte RTPS encapsulation header, over `cdr-encoding`
//! (the serde codec that RustDDS and ros2-client use).

use byteorder::{BigEndian, LittleEndian};
use serde::{de::DeserializeOwned, Serialize};

/// Encapsulation identifier of plain CDR, big-endian.
pub const CDR_BE: [u8; 2] = [0x00, 0x00];
/// Encapsulation identifier of plain CDR, little-endian (what ROS 2 writes on x86 and ARM).
pub const CDR_LE: [u8; 2] = [0x00, 0x01];

/// Why a CDR payload could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CdrError {
    /// The payload is shorter than the 4-byte encapsulation header.
    #[error("payload of {len} bytes is shorter than the 4-byte CDR encapsulation header")]
    NoHeader {
        /// Payload length in bytes.
        len: usize,
    },
    /// The encapsulation identifier is not plain CDR (e.g. XCDR2 or PL_CDR).
    #[error("unsupported CDR encapsulation {id:02x?} (expected 00 01 = CDR_LE or 00 00 = CDR_BE)")]
    Encapsulation {
        /// The two identifier bytes found.
        id: [u8; 2],
    },
    /// The body does not decode as the expected type.
    #[error("{type_name}: {source}")]
    Body {
        /// ROS type name, e.g. `sensor_msgs/msg/Imu`.
        type_name: &'static str,
        /// The codec's description.
        source: cdr_encoding::Error,
    },
    /// The payload ends inside a field.
    #[error("{type_name}: payload ends inside field '{field}' (needs {need} bytes, {have} left)")]
    Truncated {
        /// ROS type name.
        type_name: &'static str,
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// Bytes are left over after the message beyond the at most 7 bytes of alignment padding.
    #[error("{type_name}: {extra} trailing bytes after the message")]
    Trailing {
        /// ROS type name.
        type_name: &'static str,
        /// Number of unexpected bytes.
        extra: usize,
    },
}

/// Encodes `msg` as little-endian CDR with its encapsulation header.
pub fn encode<T: Serialize>(type_name: &'static str, msg: &T) -> Result<Vec<u8>, CdrError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&CDR_LE);
    out.extend_from_slice(&[0, 0]);
    cdr_encoding::to_writer::<T, LittleEndian, _>(&mut out, msg)
        .map_err(|source| CdrError::Body { type_name, source })?;
    Ok(out)
}

/// Decodes a CDR payload (with encapsulation header, either byte order) as `T`.
pub fn decode<T: DeserializeOwned>(type_name: &'static str, payload: &[u8]) -> Result<T, CdrError> {
    let (value, body, used) = decode_prefix::<T>(type_name, payload)?;
    check_trailing(type_name, body, used)?;
    Ok(value)
}

/// The body after the encapsulation header, and whether it is big-endian.
fn body(payload: &[u8]) -> Result<(&[u8], bool), CdrError> {
    if payload.len() < 4 {
        return Err(CdrError::NoHeader { len: payload.len() });
    }
    match [payload[0], payload[1]] {
        CDR_LE => Ok((&payload[4..], false)),
        CDR_BE => Ok((&payload[4..], true)),
        id => Err(CdrError::Encapsulation { id }),
    }
}

/// Decodes the leading fields of a message as `T`; returns them, the body (after the
/// encapsulation header) and how many body bytes they used, so that the caller can read the
/// remaining fields in bulk (see [`read_byte_seq`]).
pub fn decode_prefix<'a, T: DeserializeOwned>(
    type_name: &'static str,
    payload: &'a [u8],
) -> Result<(T, &'a [u8], usize), CdrError> {
    let (body, big_endian) = body(payload)?;
    let (value, used) = if big_endian {
        cdr_encoding::from_bytes::<T, BigEndian>(body)
    } else {
        cdr_encoding::from_bytes::<T, LittleEndian>(body)
    }
    .map_err(|source| CdrError::Body { type_name, source })?;
    Ok((value, body, used))
}

/// Reads a `uint8[]` field at body offset `pos` (aligned to 4 for its length) in one copy;
/// returns the bytes and the offset after them.
pub fn read_byte_seq(
    type_name: &'static str,
    field: &'static str,
    payload: &[u8],
    pos: usize,
) -> Result<(Vec<u8>, usize), CdrError> {
    let (body, big_endian) = body(payload)?;
    let pos = pos.next_multiple_of(4);
    let have = body.len().saturating_sub(pos);
    let len_bytes: [u8; 4] = body
        .get(pos..pos + 4)
        .and_then(|b| b.try_into().ok())
        .ok_or(CdrError::Truncated { type_name, field, need: 4, have })?;
    let len = if big_endian { u32::from_be_bytes(len_bytes) } else { u32::from_le_bytes(len_bytes) } as usize;
    let data = body.get(pos + 4..pos + 4 + len).ok_or(CdrError::Truncated {
        type_name,
        field,
        need: len,
        have: have.saturating_sub(4),
    })?;
    Ok((data.to_vec(), pos + 4 + len))
}

/// Reads a `bool` field at body offset `pos`.
pub fn read_bool(type_name: &'static str, field: &'static str, payload: &[u8], pos: usize) -> Result<(bool, usize), CdrError> {
    let (body, _) = body(payload)?;
    let b = body.get(pos).ok_or(CdrError::Truncated { type_name, field, need: 1, have: 0 })?;
    Ok((*b != 0, pos + 1))
}

/// Fails when more than alignment padding follows the last field at body offset `used`.
pub fn check_trailing(type_name: &'static str, body: &[u8], used: usize) -> Result<(), CdrError> {
    let extra = body.len().saturating_sub(used);
    // Writers may pad the end of a message to its alignment; anything more is a mismatch.
    if extra > 7 {
        return Err(CdrError::Trailing { type_name, extra });
    }
    Ok(())
}

/// Serde adapter for `uint8[]` fields: encodes the CDR sequence as one block copy instead of
/// one call per byte; human-readable formats (JSON) see a plain array of numbers.
pub mod byte_seq {
    use serde::{ser::SerializeTuple, Deserialize, Deserializer, Serialize, Serializer};

    struct Raw<'a>(&'a [u8]);

    impl Serialize for Raw<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    /// Writes the `u32` length then the bytes.
    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return data.serialize(s);
        }
        let len = u32::try_from(data.len())
            .map_err(|_| serde::ser::Error::custom("uint8[] longer than 2^32-1 bytes"))?;
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&len)?;
        t.serialize_element(&Raw(data))?;
        t.end()
    }

    /// Reads a CDR `uint8[]` sequence.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Vec::<u8>::deserialize(d)
    }
}
