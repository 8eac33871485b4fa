//! Rewriting schema ids in restored records (pure). A record serialized for a Schema Registry
//! starts with the Confluent wire prefix: magic byte 0 and the schema id as a 4-byte big-endian
//! integer. When a restore could not keep an id, the records naming it would name a missing or
//! a different schema; with `rewriteSchemaIds` their prefix is rewritten to the new id.
//!
//! Only bytes that start with 0 and whose id is one the restore changed are touched. Data that
//! is not registry-serialized but happens to start so would be changed too: the option is off
//! by default and the docs say so.

use std::collections::BTreeMap;

/// Old schema id → new schema id, for the ids a restore could not keep.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMap(pub BTreeMap<i32, i32>);

impl IdMap {
    /// Nothing to rewrite.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `bytes` with its schema id prefix rewritten, or `None` when it has no prefix naming a
    /// changed id.
    pub fn rewrite(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let new = self.new_id(bytes)?;
        let mut out = bytes.to_vec();
        out[1..5].copy_from_slice(&new.to_be_bytes());
        Some(out)
    }

    /// Rewrites `bytes` in place; whether it changed.
    pub fn rewrite_in_place(&self, bytes: &mut [u8]) -> bool {
        match self.new_id(bytes) {
            Some(new) => {
                bytes[1..5].copy_from_slice(&new.to_be_bytes());
                true
            }
            None => false,
        }
    }

    fn new_id(&self, bytes: &[u8]) -> Option<i32> {
        if bytes.len() < 5 || bytes[0] != 0 {
            return None;
        }
        let old = i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        self.0.get(&old).copied().filter(|new| *new != old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prefixes_naming_a_changed_id_are_rewritten() {
        let map = IdMap(BTreeMap::from([(7, 300), (9, 9)]));
        let mut rec = vec![0, 0, 0, 0, 7, 0xAA, 0xBB];
        assert_eq!(map.rewrite(&rec), Some(vec![0, 0, 0, 1, 44, 0xAA, 0xBB]));
        assert!(map.rewrite_in_place(&mut rec));
        assert_eq!(rec, [0, 0, 0, 1, 44, 0xAA, 0xBB]);
        // Unchanged id, unknown id, no magic byte, too short.
        assert_eq!(map.rewrite(&[0, 0, 0, 0, 9, 1]), None);
        assert_eq!(map.rewrite(&[0, 0, 0, 0, 8, 1]), None);
        assert_eq!(map.rewrite(&[1, 0, 0, 0, 7, 1]), None);
        assert_eq!(map.rewrite(&[0, 0, 0, 7]), None);
    }
}
