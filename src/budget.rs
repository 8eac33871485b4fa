//! The data plane's memory budget: what one partition in flight may hold, split into the buffer
//! sizes of the Kafka consumer, the segment writer and the multipart upload of a backup. (A
//! restore's partitions share one producer whose queue gets a share of the budget per partition
//! restored at once, [`restore_queue_bytes`]; each restoring partition also holds about a block
//! and its records.) Memory then follows the parallelism, never the partition count:
//! a pod holds about [`BASE_BYTES`] + parallelism × [`PARTITION_BYTES`] (docs/sizing.md has the
//! measured figures). Every size below is derived here, so raising or lowering the budget moves
//! them together.
//!
//! Imports nothing but the segment format's block size and codecs; used by `kafka`, `backup`,
//! `restore`.

use crate::format::codec::Codec;
use crate::format::segment::DEFAULT_BLOCK_BYTES;

const MIB: usize = 1024 * 1024;

/// Memory one partition in flight may hold at most (issue 18: ≤ 32 MiB).
pub const PARTITION_BYTES: usize = 32 * MIB;

/// What a data-plane process holds beside its partitions in flight: runtime, clients, TLS, the
/// plan and manifests, and what the allocator keeps (measured, docs/sizing.md).
pub const BASE_BYTES: usize = 64 * MIB;

/// A process environment variable that replaces [`PARTITION_BYTES`] (in MiB, 8 to 1024) for
/// benchmarks (`hack/bench.sh`, docs/sizing.md); no resource sets it.
pub const BUDGET_ENV: &str = "STRIMZI_BACKUP_PARTITION_BUDGET_MIB";

/// S3's smallest multipart part (all but the last).
const MIN_PART_BYTES: usize = 5 * MIB;
/// Larger parts than this buy nothing: a part of 8 MiB is already a few tens of ms on the wire.
const MAX_PART_BYTES: usize = 16 * MIB;
/// librdkafka's fetch sizes: at least this (a record batch larger than the fetch size is still
/// returned whole by the broker, so this bounds only the common case), at most this.
const MIN_FETCH_BYTES: usize = MIB;
const MAX_FETCH_BYTES: usize = 16 * MIB;

/// The buffers of one partition being backed up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupBuffers {
    /// `max.partition.fetch.bytes` and `fetch.max.bytes`: one consumer reads one partition.
    pub fetch_bytes: usize,
    /// `queued.max.messages.kbytes` × 1024: what librdkafka prefetches ahead of the reader.
    pub queued_bytes: usize,
    /// Raw bytes of a segment block (the format's block size).
    pub block_bytes: usize,
    /// Blocks compressed on other threads while the partition reads on.
    pub blocks_in_flight: usize,
    /// Whether blocks are compressed: a compressed block is a second buffer beside its raw
    /// bytes and needs a compression context; an uncompressed one is its raw bytes, moved.
    pub compressed: bool,
    /// Multipart part size.
    pub part_bytes: usize,
    /// Parts uploading while the next one fills.
    pub parts_in_flight: usize,
}

impl BackupBuffers {
    /// The split of `budget` bytes: a quarter to the consumer (a prefetch queue of two
    /// fetches, and the fetch and decompressed batch beside it), what the blocks need, an
    /// eighth left to the allocator ([`allocator_slack`]), the rest to the upload (one part
    /// filling, the others in flight). Below about 30 MiB the fixed
    /// floors (S3's 5 MiB part, the format's 1 MiB blocks) do not fit and are kept anyway.
    /// Uncompressed blocks need less, which leaves room for a second part in flight at 32 MiB:
    /// with nothing to compress, the upload is what a backup waits for (measured: 5.2 s with
    /// one 5 MiB part in flight, 4.2 s with two of 8 MiB, for 488 MiB on the local MinIO).
    pub fn of(budget: usize, compressed: bool) -> Self {
        let fetch_bytes = (budget / 16).clamp(MIN_FETCH_BYTES, MAX_FETCH_BYTES);
        let queued_bytes = 2 * fetch_bytes;
        let block_bytes = DEFAULT_BLOCK_BYTES;
        let blocks_in_flight = 2;
        let consumer = queued_bytes + 2 * fetch_bytes;
        let buffers = Self {
            fetch_bytes,
            queued_bytes,
            block_bytes,
            blocks_in_flight,
            compressed,
            part_bytes: 0,
            parts_in_flight: 0,
        };
        let upload = budget.saturating_sub(consumer + buffers.blocks() + allocator_slack(budget));
        let part_bytes = (upload / 3).clamp(MIN_PART_BYTES, MAX_PART_BYTES);
        let parts_in_flight = (upload / part_bytes).saturating_sub(1).clamp(1, 4);
        Self { part_bytes, parts_in_flight, ..buffers }
    }

    /// The open block and the blocks in flight: compressed, each is its raw bytes, its
    /// compressed copy and the compressing thread's zstd context; uncompressed, its raw bytes.
    fn blocks(&self) -> usize {
        if self.compressed {
            self.block_bytes * (1 + 2 * self.blocks_in_flight) + self.blocks_in_flight * ZSTD_CONTEXT_BYTES
        } else {
            self.block_bytes * (1 + self.blocks_in_flight)
        }
    }

    /// The most these buffers hold at once: librdkafka's queue can overshoot by one fetch (it
    /// checks the queue before fetching) and decompresses a compressed batch next to it; the
    /// blocks ([`Self::blocks`]); the upload holds the part filling and those in flight.
    pub fn worst_case(&self) -> usize {
        self.queued_bytes
            + 2 * self.fetch_bytes
            + self.blocks()
            + self.part_bytes * (1 + self.parts_in_flight)
    }
}

/// What the allocator holds beyond the buffers' own bytes: glibc keeps freed buffers of a few
/// MiB in its heaps for reuse, and the holes between them are resident (8 partitions of
/// 61 MiB at parallelism 8: RSS 85-100 MiB over the heap's peak, docs/sizing.md). An eighth of
/// the budget; without it `compression: none` gave the upload everything left (three 7 MiB
/// parts) and the backup peaked at 352-382 MiB against the 320 MiB of [`pod_bytes`]`(8)`.
fn allocator_slack(budget: usize) -> usize {
    budget / 8
}

/// A zstd compression context at the levels a backup uses for 1 MiB blocks (level 3: about
/// 2.5 MiB; level 19 is larger, and said so in docs/sizing.md).
const ZSTD_CONTEXT_BYTES: usize = 3 * MIB;

/// The budget of one partition in flight: [`PARTITION_BYTES`], or [`BUDGET_ENV`] when set to a
/// number of MiB in range (anything else is ignored with a warning).
pub fn partition_budget() -> usize {
    from_env(std::env::var(BUDGET_ENV).ok().as_deref())
}

fn from_env(value: Option<&str>) -> usize {
    let Some(v) = value else { return PARTITION_BYTES };
    match v.trim().parse::<usize>() {
        Ok(mib) if (8..=1024).contains(&mib) => mib * MIB,
        _ => {
            tracing::warn!(
                value = v,
                "{BUDGET_ENV} is not a number of MiB from 8 to 1024; using the default"
            );
            PARTITION_BYTES
        }
    }
}

/// This process's budget per partition (read once).
fn budget() -> usize {
    static BUDGET: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(partition_budget)
}

/// The backup buffers of this process's budget for compressed blocks (the consumer's sizes do
/// not depend on the codec).
pub fn backup_buffers() -> BackupBuffers {
    BackupBuffers::of(budget(), true)
}

/// The backup buffers of this process's budget for blocks written with `codec`.
pub fn backup_buffers_for(codec: Codec) -> BackupBuffers {
    BackupBuffers::of(budget(), codec != Codec::None)
}

/// The restore producer's queue (`queue.buffering.max.kbytes`, in bytes): an eighth of the
/// budget per partition restored at once (4 MiB at 32 MiB), at least [`MIN_RESTORE_QUEUE_BYTES`].
/// The queue holds every record sent and not yet acknowledged, so it is the restore's largest
/// buffer; the rest of a restoring partition's budget is its block, the block's decoded records
/// and the deliveries awaited. Before, it was 64 MiB whatever the parallelism.
pub fn restore_queue_bytes(parallelism: usize) -> usize {
    (parallelism.max(1) * budget() / 8).max(MIN_RESTORE_QUEUE_BYTES)
}

/// The smallest restore producer queue: enough for the producer's five requests in flight of
/// 1 MB batches (`batch.size`) and the batches filling behind them.
const MIN_RESTORE_QUEUE_BYTES: usize = 16 * MIB;

/// The memory a pod needs for `parallelism` partitions in flight (its memory request).
pub fn pod_bytes(parallelism: usize) -> usize {
    BASE_BYTES + parallelism.max(1) * PARTITION_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_holds_every_backup_buffer() {
        for compressed in [true, false] {
            let b = BackupBuffers::of(PARTITION_BYTES, compressed);
            assert!(b.worst_case() <= PARTITION_BYTES, "{b:?}: {} MiB", b.worst_case() / MIB);
        }
        // Compressed, S3's 5 MiB part floor sets the upload (29 MiB in all); uncompressed, the
        // parts would take everything left.
        let plain = BackupBuffers::of(PARTITION_BYTES, false);
        assert!(
            plain.worst_case() + allocator_slack(PARTITION_BYTES) <= PARTITION_BYTES,
            "{plain:?}: {} MiB leaves the allocator no slack",
            plain.worst_case() / MIB
        );
        assert!(plain.parts_in_flight >= 2, "uncompressed, the upload is the bottleneck: {plain:?}");
        let b = BackupBuffers::of(PARTITION_BYTES, true);
        assert!(b.part_bytes >= MIN_PART_BYTES, "S3 refuses parts below 5 MiB");
        assert!(b.parts_in_flight >= 1 && b.blocks_in_flight >= 1);
        assert_eq!(
            b.block_bytes, DEFAULT_BLOCK_BYTES,
            "the format's block size is not the budget's to change"
        );
        assert!(b.queued_bytes >= b.fetch_bytes, "the prefetch queue holds at least one fetch");
    }

    #[test]
    fn buffers_grow_and_shrink_with_the_budget_within_their_limits() {
        let small = BackupBuffers::of(8 * MIB, true);
        let large = BackupBuffers::of(256 * MIB, true);
        assert_eq!(small.fetch_bytes, MIN_FETCH_BYTES);
        assert_eq!(small.part_bytes, MIN_PART_BYTES, "never below S3's minimum, even when over budget");
        assert_eq!(small.parts_in_flight, 1);
        assert_eq!(large.fetch_bytes, MAX_FETCH_BYTES);
        assert_eq!(large.part_bytes, MAX_PART_BYTES);
        assert!(large.parts_in_flight > 1 && large.parts_in_flight <= 4);
        assert!(large.worst_case() <= 256 * MIB);
        for mib in [32, 40, 48, 64, 96, 128, 512, 1024] {
            for compressed in [true, false] {
                let b = BackupBuffers::of(mib * MIB, compressed);
                assert!(b.worst_case() <= mib * MIB, "{mib} MiB: {b:?} needs {} MiB", b.worst_case() / MIB);
            }
        }
    }

    #[test]
    fn the_restore_queue_follows_the_parallelism_from_a_floor() {
        assert_eq!(restore_queue_bytes(0), MIN_RESTORE_QUEUE_BYTES);
        assert_eq!(restore_queue_bytes(1), MIN_RESTORE_QUEUE_BYTES);
        assert_eq!(restore_queue_bytes(8), 8 * budget() / 8);
        assert!(restore_queue_bytes(16) > restore_queue_bytes(8));
        assert!(restore_queue_bytes(8) <= 8 * budget() / 4, "a share of each partition's budget");
    }

    #[test]
    fn a_pod_needs_the_base_and_a_budget_per_partition_in_flight() {
        assert_eq!(pod_bytes(4), BASE_BYTES + 4 * PARTITION_BYTES);
        assert_eq!(pod_bytes(0), pod_bytes(1));
        assert!(pod_bytes(4) <= 256 * MIB, "the default parallelism fits issue 18's 256 MiB");
    }

    #[test]
    fn the_budget_override_is_taken_only_in_range() {
        assert_eq!(from_env(None), PARTITION_BYTES);
        assert_eq!(from_env(Some("64")), 64 * MIB);
        assert_eq!(from_env(Some(" 16 ")), 16 * MIB);
        for bad in ["0", "7", "1025", "32MiB", ""] {
            assert_eq!(from_env(Some(bad)), PARTITION_BYTES, "{bad:?}");
        }
    }
}
