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
    let truncated = |need: usize, have: usize| CdrError::Truncated {
        type_name,
        field,
        need,
        have,
    };
    let len_bytes: [u8; 4] = pos
        .checked_add(4)
        .and_then(|end| body.get(pos..end))
        .and_then(|b| b.try_into().ok())
        .ok_or(truncated(4, have))?;
    let len = if big_endian {
        u32::from_be_bytes(len_bytes)
    } else {
        u32::from_le_bytes(len_bytes)
    } as usize;
    let start = pos + 4;
    let end = start
        .checked_add(len)
        .ok_or(truncated(len, have.saturating_sub(4)))?;
    let data = body
        .get(start..end)
        .ok_or(truncated(len, have.saturating_sub(4)))?;
    Ok((data.to_vec(), end))
}

/// Reads a `bool` field at body offset `pos`.
pub fn read_bool(
    type_name: &'static str,
    field: &'static str,
    payload: &[u8],
    pos: usize,
) -> Result<(bool, usize), CdrError> {
    let (body, _) = body(payload)?;
    let b = body.get(pos).ok_or(CdrError::Truncated {
        type_name,
        field,
        need: 1,
        have: 0,
    })?;
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

/// Encodes the leading fields `head` of a message, then a trailing `uint8[]` field in one
/// block copy (aligned to 4 for its length); the caller appends any fields after it.
pub fn encode_with_byte_seq<H: Serialize>(
    type_name: &'static str,
    head: &H,
    data: &[u8],
) -> Result<Vec<u8>, CdrError> {
    let mut out = encode(type_name, head)?;
    out.reserve(data.len() + 8);
    while (out.len() - 4) % 4 != 0 {
        out.push(0);
    }
    let len = u32::try_from(data.len()).map_err(|_| CdrError::Truncated {
        type_name,
        field: "data",
        need: data.len(),
        have: u32::MAX as usize,
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(data);
    Ok(out)
}
