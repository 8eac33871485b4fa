//! Completes a multipart upload whose answer may be lost.
//!
//! Completing a multipart upload is not idempotent: when the connection drops after the store
//! assembled the object but before its answer arrived, object_store retries the request and the
//! store answers `NoSuchUpload` (the upload is gone: it became the object), or `InvalidPart` when
//! the retry meets the first attempt still assembling. Taken at its word that error failed a
//! backup whose segment was in fact written (seen with a storage connection that kept dropping,
//! resilience e2e). The writer knows the SHA-256 and size of what it uploaded, so on any error it
//! reads the object back: the very bytes it wrote mean the upload completed; anything else, or no
//! object, keeps the error. A segment is never taken on trust: only content equal to what was
//! written counts.

use std::time::Duration;

use anyhow::Context;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

use super::Storage;

/// How often, and how far apart, the object is looked for after a failed completion: a retry
/// that met the first attempt still assembling the object finds it a moment later.
const LOOKS: u32 = 5;
const BETWEEN_LOOKS: Duration = Duration::from_secs(1);

/// An upload that could not be completed and whose object does not hold what was uploaded: the
/// upload is gone (a store may drop it when a completion is cut off half way), so its bytes must
/// be written again from their source.
#[derive(Debug, thiserror::Error)]
#[error("completing upload of {object}: {source}")]
pub struct NotCompleted {
    pub object: String,
    #[source]
    pub source: object_store::Error,
}

/// What was uploaded: the object's SHA-256 (hex) and size.
#[derive(Clone, Copy, Debug)]
pub struct Uploaded<'a> {
    pub sha256: &'a str,
    pub bytes: u64,
}

impl Storage {
    /// Completes `upload` of `object`; when completing fails, the upload counts as done only if
    /// the object now holds exactly `uploaded`.
    pub async fn complete_upload(
        &self,
        upload: WriteMultipart,
        object: &str,
        uploaded: Uploaded<'_>,
    ) -> anyhow::Result<()> {
        let failed = match upload.finish().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        for look in 1..=LOOKS {
            match self.content_of(object).await {
                Ok(Some((sha, bytes))) if sha == uploaded.sha256 && bytes == uploaded.bytes => {
                    tracing::warn!(object, error = %failed,
                        "completing the upload failed, but the object holds exactly what was uploaded: \
                         the completion's answer was lost and its retry came after it");
                    return Ok(());
                }
                _ if look < LOOKS => tokio::time::sleep(BETWEEN_LOOKS).await,
                _ => {}
            }
        }
        Err(NotCompleted { object: object.to_string(), source: failed }.into())
    }

    /// SHA-256 (hex) and size of `object`, `None` when there is none.
    async fn content_of(&self, object: &str) -> anyhow::Result<Option<(String, u64)>> {
        let path = object_store::path::Path::from(object);
        let got = match self.store.get(&path).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {object} back")),
        };
        let mut stream = got.into_stream();
        let (mut hasher, mut bytes) = (Sha256::new(), 0u64);
        while let Some(chunk) = stream.try_next().await.with_context(|| format!("reading {object} back"))? {
            hasher.update(&chunk);
            bytes += chunk.len() as u64;
        }
        Ok(Some((hex::encode(hasher.finalize()), bytes)))
    }
}
