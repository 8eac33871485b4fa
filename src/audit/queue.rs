//! The bounded in-memory queue between [`super::Audit::record`] (never blocks, never fails) and
//! the writer task. When it is full the NEWEST event is dropped and counted: the queue keeps the
//! events from the start of an outage (what led up to it), and what was lost is one contiguous
//! stretch, recorded by the writer as a `Gap` row with the count and the first and last times
//! once the database takes writes again — so a loss shows in the chain itself.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::event::AuditEvent;

/// Events lost to a full queue since the last gap row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lost {
    pub count: u64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct State {
    events: VecDeque<AuditEvent>,
    lost: Option<Lost>,
}

/// A bounded FIFO of events plus the count of those dropped.
#[derive(Debug)]
pub struct Queue {
    capacity: usize,
    state: Mutex<State>,
    wake: Notify,
}

/// What became of one event handed to [`Queue::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    Dropped,
}

impl Queue {
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), state: Mutex::new(State::default()), wake: Notify::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding it cannot leave the queue half-changed (push/pop are single steps).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `event`, or drops and counts it when the queue is full.
    pub fn push(&self, event: AuditEvent) -> Pushed {
        let pushed = {
            let mut s = self.lock();
            if s.events.len() >= self.capacity {
                let t = event.time;
                s.lost = Some(match s.lost {
                    Some(l) => Lost { count: l.count + 1, first: l.first.min(t), last: l.last.max(t) },
                    None => Lost { count: 1, first: t, last: t },
                });
                Pushed::Dropped
            } else {
                s.events.push_back(event);
                Pushed::Queued
            }
        };
        self.wake.notify_one();
        pushed
    }

    /// Up to `max` events from the front, left in the queue (they leave with [`Queue::remove`]
    /// once written, so a write that fails keeps them and their place).
    pub fn peek(&self, max: usize) -> Vec<AuditEvent> {
        self.lock().events.iter().take(max).cloned().collect()
    }

    /// Removes the first `n` events (written).
    pub fn remove(&self, n: usize) {
        let mut s = self.lock();
        let n = n.min(s.events.len());
        s.events.drain(..n);
    }

    /// The events lost since the last call, taken (the writer records them as a gap).
    pub fn take_lost(&self) -> Option<Lost> {
        self.lock().lost.take()
    }

    /// Puts back a loss that could not be recorded (the gap row's write failed).
    pub fn restore_lost(&self, lost: Lost) {
        let mut s = self.lock();
        s.lost = Some(match s.lost {
            Some(l) => Lost {
                count: l.count + lost.count,
                first: l.first.min(lost.first),
                last: l.last.max(lost.last),
            },
            None => lost,
        });
    }

    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Waits until something was pushed since the last wait (or returns at once if so).
    pub async fn wait(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::{EventKind, Outcome};

    fn event(n: i64) -> AuditEvent {
        let t = DateTime::from_timestamp_millis(1_700_000_000_000 + n).expect("time");
        AuditEvent::new(EventKind::Other, Outcome::Recorded).at(t).reason(n.to_string())
    }

    #[test]
    fn a_full_queue_drops_the_newest_and_counts_them_with_their_times() {
        let q = Queue::new(2);
        assert_eq!(q.push(event(1)), Pushed::Queued);
        assert_eq!(q.push(event(2)), Pushed::Queued);
        assert_eq!(q.push(event(3)), Pushed::Dropped);
        assert_eq!(q.push(event(4)), Pushed::Dropped);
        let kept: Vec<_> = q.peek(10).into_iter().map(|e| e.reason.unwrap_or_default()).collect();
        assert_eq!(kept, ["1", "2"]);
        let lost = q.take_lost().expect("a loss");
        assert_eq!((lost.count, lost.first, lost.last), (2, event(3).time, event(4).time));
        assert_eq!(q.take_lost(), None);
        q.restore_lost(lost);
        assert_eq!(q.take_lost().map(|l| l.count), Some(2));
        q.remove(1);
        assert_eq!(q.len(), 1);
        assert_eq!(q.push(event(5)), Pushed::Queued);
        q.remove(10);
        assert!(q.is_empty());
    }
}
