//! Wrapped data keys in a manifest (`encoding.dataKeys`, manifest version 4): envelope
//! encryption with a key in an external KMS ([`crate::kms`]). Each backup run seals its segments
//! with a fresh data key; the manifest keeps that key only as the KMS wrapped it, together with
//! the wrapped keys of every earlier backup whose segments it lists (an incremental restore
//! point reads segments several runs wrote), so one manifest is enough to read its restore
//! point. Segment objects live under the id of the backup that wrote them
//! (`backups/<id>/segments/…`): that id picks the data key.

use serde::{Deserialize, Serialize};

/// One backup's data key as the KMS wrapped it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataKeyEntry {
    /// The backup whose segments this key sealed.
    pub backup_id: String,
    /// Id of the data key itself (first 8 bytes of its SHA-256, hex), checked after unwrapping
    /// so a wrapped key swapped for another backup's is caught before any segment is read.
    pub key_id: String,
    /// `awsKms` or `vaultTransit`.
    pub provider: String,
    /// The wrapping key as the KMS names it: AWS KMS key ARN, or the transit key's name.
    pub kms_key_id: String,
    /// The wrapping key's version, where the KMS says (Vault transit); absent for AWS KMS, whose
    /// ciphertext names its own key material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_version: Option<u64>,
    /// The wrapped data key: base64 of AWS KMS's ciphertext blob, or Vault's `vault:vN:…`.
    pub wrapped: String,
}

/// The backup id a segment object belongs to: the `<id>` of `…backups/<id>/segments/…` (the
/// last such part, so a storage prefix that itself contains `backups/` does not confuse it).
pub fn backup_of_segment(object: &str) -> Option<&str> {
    let (before, _) = object.rsplit_once("/segments/")?;
    let id = before.rsplit_once("backups/").map(|(_, id)| id)?;
    Some(id).filter(|id| !id.is_empty() && !id.contains('/'))
}

/// The entries a manifest needs: one per backup among `segments`' writers, taken from `known`
/// (this backup's own key and its parent's entries); a writer without an entry is returned as
/// the error (its segments could never be read).
pub fn needed<'a>(
    segments: impl Iterator<Item = &'a str>,
    known: &[DataKeyEntry],
) -> Result<Vec<DataKeyEntry>, String> {
    let mut ids: Vec<&str> = Vec::new();
    for object in segments {
        let id =
            backup_of_segment(object).ok_or_else(|| format!("segment {object} is under no backup id"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| {
            known.iter().find(|k| k.backup_id == id).cloned().ok_or_else(|| {
                format!("segments of backup {id} are listed but no wrapped data key of it is known")
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> DataKeyEntry {
        DataKeyEntry {
            backup_id: id.into(),
            key_id: "00".repeat(8),
            provider: "awsKms".into(),
            kms_key_id: "arn:aws:kms:us-east-1:123456789012:key/k".into(),
            kms_key_version: None,
            wrapped: "AQID".into(),
        }
    }

    #[test]
    fn segments_name_their_backup() {
        assert_eq!(backup_of_segment("p/backups/b-1/segments/t/0/00000000000000000000.kbseg"), Some("b-1"));
        assert_eq!(backup_of_segment("backups/x/backups/b-2/segments/t/0/1.kbseg"), Some("b-2"));
        assert_eq!(backup_of_segment("backups/b-3/manifest.json"), None);
        assert_eq!(backup_of_segment("other/segments/t/0/1.kbseg"), None);
    }

    #[test]
    fn a_manifest_carries_the_keys_of_every_writer_of_its_segments() {
        let known = [entry("b-2"), entry("b-1"), entry("b-0")];
        let segments = [
            "backups/b-1/segments/t/0/1.kbseg",
            "backups/b-2/segments/t/0/9.kbseg",
            "backups/b-1/segments/t/1/1.kbseg",
        ];
        let got = needed(segments.into_iter(), &known).expect("needed");
        assert_eq!(got.iter().map(|e| e.backup_id.as_str()).collect::<Vec<_>>(), ["b-1", "b-2"]);
        let err = needed(["backups/b-9/segments/t/0/1.kbseg"].into_iter(), &known).expect_err("unknown");
        assert!(err.contains("backup b-9"), "{err}");
    }

    #[test]
    fn entries_serialize_in_the_documented_order_and_leave_out_absent_versions() {
        let json = serde_json::to_string(&entry("b-1")).expect("json");
        assert_eq!(
            json,
            r#"{"backupId":"b-1","keyId":"0000000000000000","provider":"awsKms","kmsKeyId":"arn:aws:kms:us-east-1:123456789012:key/k","wrapped":"AQID"}"#
        );
        let back: DataKeyEntry = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, entry("b-1"));
    }
}
