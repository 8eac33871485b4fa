//! The keys an erasure reads and rewrites segments with.
//!
//! An erasure reads every kept restore point with the key access a restore of it has
//! ([`KeySource`]: the key from a Secret, or the data keys a KMS unwraps — envelope encryption,
//! `encoding.dataKeys`). Each piece written in place of a segment is sealed with the very key that
//! sealed that segment: for a KMS-encrypted backup the data key of the backup the segment lives
//! under (`backups/<id>/segments/…`), not the key of whichever restore point listed it first. So
//! the manifests' wrapped keys stay valid unchanged, no data key is drawn or wrapped anew, and
//! crypto-shredding a backup's data key still covers its rewritten segments.

use anyhow::Context;

use crate::format::codec::EncryptionKey;
use crate::format::data_keys::backup_of_segment;
use crate::format::manifest::Manifest;
use crate::kms::KeySource;

/// The key (for KMS-encrypted backups: the ring of data keys) to read restore point `m` with.
/// A missing or wrong key is named with the settings that give it.
pub async fn for_restore_point(source: &KeySource, m: &Manifest) -> anyhow::Result<Option<EncryptionKey>> {
    source.for_manifest(m).await.with_context(|| {
        format!(
            "reading restore point {} to erase from it (an erasure reads with the key access a restore has: \
             the KafkaBackup's spec.backup.encryption, or for a KafkaBackupLocation its spec.encryption, \
             keySecret or kms, set as its backups were encrypted)",
            m.backup_id
        )
    })
}

/// The key that sealed segment `object`, which its pieces are sealed with too: from a restore
/// point's ring the data key of the backup the object lives under; a single key as it is.
pub fn for_segment(key: Option<EncryptionKey>, object: &str) -> anyhow::Result<Option<EncryptionKey>> {
    key.map(|k| k.for_object(object)).transpose().map_err(anyhow::Error::msg)
}

/// A piece must live under the same backup as the segment it replaces: that backup id picks the
/// data key readers open it with.
pub fn check_piece(original: &str, piece: &str) -> anyhow::Result<()> {
    let (was, is) = (backup_of_segment(original), backup_of_segment(piece));
    anyhow::ensure!(
        was == is,
        "piece {piece} would be under backup {is:?}, the segment it replaces ({original}) under {was:?}: \
         its data key would not be found"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::format::data_keys::DataKeyEntry;
    use crate::format::manifest::{Encoding, Layout, Totals};

    fn key(seed: u8) -> EncryptionKey {
        EncryptionKey::from_secret(&[seed; 32]).expect("key")
    }

    #[test]
    fn a_segment_is_resealed_with_the_data_key_of_its_own_backup() {
        let (one, two) = (key(1), key(2));
        // The incremental restore point b-2 lists b-1's segments: its ring's own key is b-2's.
        let ring = EncryptionKey::ring(
            &two,
            "lineage",
            BTreeMap::from([("b-1".to_string(), one.clone()), ("b-2".to_string(), two.clone())]),
        );
        let original = "p/backups/b-1/segments/orders/0/00000000000000000000.kbseg";
        let picked = for_segment(Some(ring.clone()), original).expect("b-1's key").expect("a key");
        assert_eq!(picked.id(), one.id(), "b-1's data key, not the ring's own (b-2)");
        let own = for_segment(Some(ring), "p/backups/b-2/segments/orders/0/00000000000000000100.kbseg")
            .expect("b-2's key")
            .expect("a key");
        assert_eq!(own.id(), two.id());
        // A key from a Secret serves every segment; a plain backup has none.
        assert_eq!(for_segment(Some(one.clone()), original).expect("key").expect("a key").id(), one.id());
        assert!(for_segment(None, original).expect("none").is_none());
        // The piece's name keeps the backup, so the same entry of dataKeys opens it.
        let piece = Layout::erased_segment(original, "kde-1", 7);
        check_piece(original, &piece).expect("same backup");
        assert_eq!(backup_of_segment(&piece), Some("b-1"));
        let err = check_piece(original, "p/backups/b-2/segments/orders/0/7.kde-1.kbseg").expect_err("moved");
        assert!(err.to_string().contains("b-2"), "{err}");
    }

    #[test]
    fn a_segment_of_a_backup_whose_key_the_ring_lacks_is_refused_naming_it() {
        let ring = EncryptionKey::ring(&key(2), "lineage", BTreeMap::from([("b-2".to_string(), key(2))]));
        let err = for_segment(Some(ring), "p/backups/b-9/segments/t/0/1.kbseg").expect_err("no key");
        assert!(err.to_string().contains("backup b-9"), "{err}");
    }

    fn manifest(encryption_key_id: Option<String>, data_keys: Vec<DataKeyEntry>) -> Manifest {
        Manifest {
            format_version: 4,
            backup_id: "b-1".into(),
            parent_id: None,
            started_at: "2026-12-04T00:00:00.000Z".into(),
            completed_at: "2026-12-04T00:00:01.000Z".into(),
            cluster_id: None,
            encoding: Encoding { compression: "none".into(), encryption_key_id, data_keys },
            topics: vec![],
            consumer_groups: vec![],
            totals: Totals::default(),
            written: None,
            cluster_metadata: None,
            schema_registry: None,
            strimzi_resources: None,
            revision: None,
        }
    }

    #[tokio::test]
    async fn restore_points_are_read_with_the_key_access_a_restore_has() {
        // Wrapped data keys and no KMS settings: refused before any KMS call, naming the key and
        // the settings that reach it.
        let wrapped = manifest(
            Some("0011223344556677".into()),
            vec![DataKeyEntry {
                backup_id: "b-1".into(),
                key_id: "aa".repeat(8),
                provider: "awsKms".into(),
                kms_key_id: "arn:aws:kms:eu-west-1:111122223333:key/k".into(),
                kms_key_version: None,
                wrapped: "AQID".into(),
            }],
        );
        let none = KeySource::new(None, None).expect("source");
        let err = format!("{:#}", for_restore_point(&none, &wrapped).await.expect_err("no kms"));
        assert!(
            err.contains("restore point b-1")
                && err.contains("spec.encryption")
                && err.contains("wrapped by awsKms key arn:aws:kms:eu-west-1:111122223333:key/k")
                && err.contains("kms settings"),
            "{err}"
        );
        // A plain backup needs no key; one encrypted with a Secret's key names the key missing.
        assert!(for_restore_point(&none, &manifest(None, vec![])).await.expect("plain").is_none());
        let secret = manifest(Some(key(1).id().into()), vec![]);
        let err = format!("{:#}", for_restore_point(&none, &secret).await.expect_err("no key"));
        assert!(err.contains("encryption key") && err.contains("spec.backup.encryption"), "{err}");
    }
}
