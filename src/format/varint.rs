//! Unsigned LEB128 varints, the length prefixes of the record encoding.

use bytes::{Buf, BufMut};

pub fn put(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Reads a varint; `None` when the input ends first or the value overflows 64 bits.
pub fn get(buf: &mut impl Buf) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        if !buf.has_remaining() {
            return None;
        }
        let b = buf.get_u8();
        v |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Zig-zag maps signed to unsigned so small negative numbers stay short.
pub fn put_signed(buf: &mut impl BufMut, v: i64) {
    put(buf, ((v << 1) ^ (v >> 63)) as u64);
}

pub fn get_signed(buf: &mut impl Buf) -> Option<i64> {
    get(buf).map(|u| ((u >> 1) as i64) ^ -((u & 1) as i64))
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_edges() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            super::put(&mut buf, v);
            assert_eq!(super::get(&mut buf.as_slice()), Some(v));
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -1_700_000_000_000] {
            let mut buf = Vec::new();
            super::put_signed(&mut buf, v);
            assert_eq!(super::get_signed(&mut buf.as_slice()), Some(v));
        }
    }

    #[test]
    fn rejects_truncated_and_overlong() {
        assert_eq!(super::get(&mut [0x80u8].as_slice()), None);
        assert_eq!(super::get(&mut [0xffu8; 11].as_slice()), None);
    }
}
