//! Test oracles that share no code with the product: a decoder of the backup format written
//! from docs/format.md alone ([`segment`], [`manifest`], [`record`]), and the offset accounting
//! a backup must satisfy against the broker's own watermarks ([`coverage`]). A format bug in
//! `src/format` cannot cancel itself out through these.

pub mod coverage;
pub mod manifest;
pub mod record;
pub mod segment;

pub use record::{Record, TimestampType};
