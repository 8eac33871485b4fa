//! How one segment is cut around the records an erasure removes: the kept records form pieces
//! (each written as a new segment), and every run of removed records becomes an `Erased` gap
//! from the kept record before it to the kept record after it (or to the segment's edge), so
//! pieces and gaps abut and account for every offset the original segment covered — a segment
//! never spans a gap. Pure: a state machine the writer follows record by record.

/// What the writer does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a new piece; the record offered is its first.
    StartPiece,
    /// Finish the open piece (its last record was the last one kept).
    EndPiece,
    /// The offsets `[from, to)` hold no kept record: an `Erased` gap.
    Gap { from: i64, to: i64 },
}

/// Follows one segment's records in offset order.
#[derive(Clone, Debug)]
pub struct Splitter {
    first: i64,
    last_kept: Option<i64>,
    erasing_from: Option<i64>,
    open: bool,
    removed: u64,
}

impl Splitter {
    /// For a segment whose first record has offset `first_offset`.
    pub fn new(first_offset: i64) -> Self {
        Self { first: first_offset, last_kept: None, erasing_from: None, open: false, removed: 0 }
    }

    /// The record at `offset`, kept or `erase`d: what to do before writing it (when kept).
    pub fn offer(&mut self, offset: i64, erase: bool) -> Vec<Action> {
        let mut actions = Vec::new();
        if erase {
            if self.open {
                actions.push(Action::EndPiece);
                self.open = false;
            }
            if self.erasing_from.is_none() {
                self.erasing_from = Some(self.last_kept.map_or(self.first, |l| l + 1));
            }
            self.removed += 1;
        } else {
            if let Some(from) = self.erasing_from.take() {
                actions.push(Action::Gap { from, to: offset });
            }
            if !self.open {
                actions.push(Action::StartPiece);
                self.open = true;
            }
            self.last_kept = Some(offset);
        }
        actions
    }

    /// After the segment's last record (at `last_offset`).
    pub fn finish(&mut self, last_offset: i64) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.open {
            actions.push(Action::EndPiece);
            self.open = false;
        }
        if let Some(from) = self.erasing_from.take() {
            actions.push(Action::Gap { from, to: last_offset + 1 });
        }
        actions
    }

    /// Records erased so far.
    pub fn removed(&self) -> u64 {
        self.removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    /// Offset ranges: a piece's first and last record, a gap's `[from, to)`.
    type Ranges = Vec<(i64, i64)>;

    /// Runs a segment of `(offset, erase)` records; returns pieces and gaps.
    fn run(records: &[(i64, bool)]) -> (Ranges, Ranges) {
        let mut s = Splitter::new(records[0].0);
        let (mut pieces, mut gaps) = (Vec::new(), Vec::new());
        let mut open: Option<(i64, i64)> = None;
        let mut apply = |actions: Vec<Action>, at: Option<i64>, pieces: &mut Vec<(i64, i64)>| {
            for a in actions {
                match a {
                    StartPiece => open = at.map(|o| (o, o)),
                    EndPiece => pieces.extend(open.take()),
                    Gap { from, to } => gaps.push((from, to)),
                }
            }
            if let (Some(o), Some(p)) = (at, open.as_mut()) {
                p.1 = o;
            }
        };
        for &(offset, erase) in records {
            let a = s.offer(offset, erase);
            apply(a, (!erase).then_some(offset), &mut pieces);
        }
        let last = records[records.len() - 1].0;
        apply(s.finish(last), None, &mut pieces);
        (pieces, gaps)
    }

    #[test]
    fn removed_records_become_gaps_between_pieces() {
        // 10..=19, 13 and 14 erased, 17 erased, 16 skipped by the broker.
        let recs = [
            (10, false),
            (11, false),
            (12, false),
            (13, true),
            (14, true),
            (15, false),
            (17, true),
            (18, false),
            (19, false),
        ];
        let (pieces, gaps) = run(&recs);
        assert_eq!(pieces, [(10, 12), (15, 15), (18, 19)]);
        // The gap runs from the kept record before to the kept record after: the skipped 16 is in it.
        assert_eq!(gaps, [(13, 15), (16, 18)]);
    }

    #[test]
    fn erased_edges_reach_the_segment_edges() {
        let (pieces, gaps) = run(&[(5, true), (6, false), (9, true)]);
        assert_eq!(pieces, [(6, 6)]);
        assert_eq!(gaps, [(5, 6), (7, 10)]);
        let (pieces, gaps) = run(&[(5, true), (8, true)]);
        assert!(pieces.is_empty());
        assert_eq!(gaps, [(5, 9)], "a segment erased whole is one gap over its range");
        let (pieces, gaps) = run(&[(5, false), (8, false)]);
        assert_eq!((pieces, gaps), (vec![(5, 8)], vec![]));
    }
}
