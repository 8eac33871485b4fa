//! The hash chain (pure): each row's `hash` = SHA-256(`prev_hash` ‖ canonical event JSON ‖
//! `seq` as 8 bytes big-endian), `prev_hash` the previous row's `hash` (32 zero bytes before the
//! first row). Changing an event, deleting or reordering rows, or cutting the tail (checked
//! against the chain head the writer keeps beside the rows) shows in [`check`].
//!
//! Canonical JSON: object keys sorted by bytes, no whitespace, serde_json's number and string
//! forms. The row stores that text verbatim (a `text` column, not `jsonb`, which would
//! normalise it), so the verifier hashes exactly the bytes the writer hashed and never needs to
//! re-serialise (a float read back need not print the same).

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first row.
pub const GENESIS: [u8; 32] = [0; 32];

/// `value` as canonical JSON text.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The hash of the row `seq` holding `event` (canonical JSON) after `prev`.
pub fn hash(prev: &[u8; 32], event: &str, seq: i64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(event.as_bytes());
    h.update(seq.to_be_bytes());
    h.finalize().into()
}

/// One stored row as the verifier reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub seq: i64,
    pub event: String,
    /// Hex, as stored.
    pub prev_hash: String,
    pub hash: String,
}

/// The chain head the writer keeps (last `seq` and its `hash`), for a cut tail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

/// Where the chain breaks, naming the first row that does not fit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error("row seq {seq}: expected seq {expected}: rows before it were deleted or reordered")]
    Missing { seq: i64, expected: i64 },
    #[error(
        "row seq {seq}: prev_hash does not match the hash of the row before it: a row was deleted, inserted or reordered"
    )]
    Link { seq: i64 },
    #[error("row seq {seq}: its content does not match its hash: the row was changed")]
    Changed { seq: i64 },
    #[error(
        "the chain head says the last row is seq {head} but the table ends at seq {last}: rows at the end were deleted, or the head was changed"
    )]
    Tail { head: i64, last: i64 },
}

impl Broken {
    /// The first broken row's seq.
    pub fn seq(&self) -> i64 {
        match self {
            Broken::Missing { seq, .. } | Broken::Link { seq } | Broken::Changed { seq } => *seq,
            Broken::Tail { last, .. } => *last + 1,
        }
    }
}

/// Checks rows one by one in `seq` order, keeping only the last hash: any number of rows in
/// constant memory.
#[derive(Debug)]
pub struct Checker {
    prev: [u8; 32],
    next_seq: i64,
    pub rows: u64,
}

impl Default for Checker {
    fn default() -> Self {
        Self { prev: GENESIS, next_seq: 1, rows: 0 }
    }
}

impl Checker {
    /// Checks the next row.
    pub fn push(&mut self, row: &Row) -> Result<(), Broken> {
        if row.seq != self.next_seq {
            return Err(Broken::Missing { seq: row.seq, expected: self.next_seq });
        }
        if row.prev_hash != hex::encode(self.prev) {
            return Err(Broken::Link { seq: row.seq });
        }
        let computed = hash(&self.prev, &row.event, row.seq);
        if hex::encode(computed) != row.hash {
            return Err(Broken::Changed { seq: row.seq });
        }
        self.prev = computed;
        self.next_seq += 1;
        self.rows += 1;
        Ok(())
    }

    /// After the last row: the head must point at it.
    pub fn finish(&self, head: Option<&Head>) -> Result<u64, Broken> {
        let last = self.next_seq - 1;
        let last_hash = if last == 0 { hex::encode(GENESIS) } else { hex::encode(self.prev) };
        match head {
            Some(h) if h.seq != last || h.hash != last_hash => Err(Broken::Tail { head: h.seq, last }),
            _ => Ok(self.rows),
        }
    }
}

/// Checks a whole chain in memory (tests, small tables).
pub fn check(rows: &[Row], head: Option<&Head>) -> Result<u64, Broken> {
    let mut c = Checker::default();
    for row in rows {
        c.push(row)?;
    }
    c.finish(head)
}

/// Appends `events` (canonical JSON) after `head`: the rows to insert and the new head.
pub fn extend(head: &Head, events: &[String]) -> Result<(Vec<Row>, Head), hex::FromHexError> {
    let mut prev = [0u8; 32];
    hex::decode_to_slice(&head.hash, &mut prev)?;
    let mut seq = head.seq;
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        seq += 1;
        let h = hash(&prev, event, seq);
        rows.push(Row { seq, event: event.clone(), prev_hash: hex::encode(prev), hash: hex::encode(h) });
        prev = h;
    }
    Ok((rows, Head { seq, hash: hex::encode(prev) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn genesis() -> Head {
        Head { seq: 0, hash: hex::encode(GENESIS) }
    }

    fn chain(n: usize) -> (Vec<Row>, Head) {
        let events: Vec<String> = (0..n).map(|i| canonical(&json!({"i": i, "kind": "Admission"}))).collect();
        extend(&genesis(), &events).expect("extend")
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"z": [true, null, "x"], "c": 1.5}});
        assert_eq!(canonical(&v), r#"{"a":{"c":1.5,"z":[true,null,"x"]},"b":1}"#);
    }

    #[test]
    fn an_intact_chain_passes_and_extends_in_two_batches_alike() {
        let (rows, head) = chain(5);
        assert_eq!(check(&rows, Some(&head)), Ok(5));
        let (first, mid) = extend(&genesis(), &rows[..2].iter().map(|r| r.event.clone()).collect::<Vec<_>>())
            .expect("extend");
        let (rest, end) =
            extend(&mid, &rows[2..].iter().map(|r| r.event.clone()).collect::<Vec<_>>()).expect("extend");
        assert_eq!([first, rest].concat(), rows);
        assert_eq!(end, head);
        assert_eq!(check(&[], Some(&genesis())), Ok(0));
    }

    #[test]
    fn a_changed_event_is_named() {
        let (mut rows, head) = chain(4);
        rows[2].event = rows[2].event.replace("Admission", "Admissioo");
        assert_eq!(check(&rows, Some(&head)), Err(Broken::Changed { seq: 3 }));
        // The stored text is what is hashed: even whitespace counts.
        let (mut rows, head) = chain(4);
        rows[1].event = r#"{ "i":1,"kind":"Admission"}"#.into();
        assert_eq!(check(&rows, Some(&head)), Err(Broken::Changed { seq: 2 }));
    }

    #[test]
    fn a_changed_row_with_its_hash_recomputed_breaks_the_next_link() {
        let (mut rows, head) = chain(4);
        rows[1].event = canonical(&json!({"i": 99, "kind": "Admission"}));
        let mut prev = [0u8; 32];
        hex::decode_to_slice(&rows[1].prev_hash, &mut prev).expect("hex");
        rows[1].hash = hex::encode(hash(&prev, &rows[1].event, 2));
        assert_eq!(check(&rows, Some(&head)), Err(Broken::Link { seq: 3 }));
    }

    #[test]
    fn deleted_and_reordered_rows_are_named() {
        let (rows, head) = chain(5);
        let deleted: Vec<Row> = rows.iter().filter(|r| r.seq != 3).cloned().collect();
        assert_eq!(check(&deleted, Some(&head)), Err(Broken::Missing { seq: 4, expected: 3 }));
        let mut swapped = rows.clone();
        swapped.swap(1, 2);
        (swapped[1].seq, swapped[2].seq) = (2, 3);
        assert_eq!(check(&swapped, Some(&head)), Err(Broken::Link { seq: 2 }));
        let cut = &rows[..3];
        assert_eq!(check(cut, Some(&head)), Err(Broken::Tail { head: 5, last: 3 }));
        assert_eq!(Broken::Tail { head: 5, last: 3 }.seq(), 4);
    }
}
