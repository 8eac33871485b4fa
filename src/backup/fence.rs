//! The lineage fence: at most one child per restore point, decided by the object store.
//!
//! A continuous backup ([`super::continuous`]) commits a child of the newest restore point every
//! few seconds. Two such writers on one location (a rolling update, an old pod cut off from the
//! API server but not from storage) would otherwise both commit a child of the same parent and
//! fork the lineage: two restore points claiming the same records after one parent, segments
//! read twice. A Kubernetes Lease does not stop a writer that cannot see the API server; the
//! store can. So just before its manifest, a fenced run creates — create-only, which the store
//! decides atomically — a claim object naming its backup as the parent's child:
//! `backups/<parent>/child-<n>.json` (`continuous/root/child-<n>.json` for a first backup). The
//! loser of that race gets [`Fenced`], commits nothing (its segments become an orphan that
//! cleanup removes) and plans again from whatever is newest.
//!
//! A claim whose backup never committed (the process died between its claim and its manifest,
//! a window of one request) would block the parent for ever, so after [`CLAIM_TTL`] with no
//! manifest the next writer claims the next number, `child-<n+1>`. The residual window: a writer
//! whose manifest request is delayed for more than [`CLAIM_TTL`] after its claim, and lands after
//! another writer took over, forks the lineage. A writer therefore refuses to send its manifest
//! when more than half of [`CLAIM_TTL`] passed since its claim ([`Claim::still_fresh`]); what is
//! left is a request in flight for longer than that (the storage client's timeouts are far
//! shorter). docs/continuous-backup.md.
//!
//! The claims of a parent are objects under the parent's own id, so pruning the parent removes
//! them with it.

use std::time::{Duration, Instant};

use anyhow::Context;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::storage::Storage;

/// How long a claim whose backup has no manifest holds before another writer may claim the next
/// number: far longer than the one request between a claim and its manifest.
pub const CLAIM_TTL: Duration = Duration::from_secs(120);

/// The run lost the race for its parent: another writer's backup is (or is becoming) the child.
/// Nothing was committed; the caller plans again from the newest restore point.
#[derive(Debug, thiserror::Error)]
#[error("restore point {parent} already has a child: {reason}; this run commits nothing and plans again")]
pub struct Fenced {
    pub parent: String,
    pub reason: String,
}

/// What a claim object says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRecord {
    /// The backup that will be the parent's child.
    pub child: String,
    /// The parent (absent: a first backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Which process claimed (host name: the pod), for people reading the location.
    pub holder: String,
    /// RFC 3339.
    pub claimed_at: String,
}

/// A claim won: the manifest may be written while it is fresh.
#[derive(Debug)]
pub struct Claim {
    at: Instant,
}

impl Claim {
    /// Refuses to commit when the claim is so old that another writer may be about to take the
    /// parent over (the process was frozen or the store stalled between claim and manifest).
    pub fn still_fresh(&self, parent: Option<&str>) -> anyhow::Result<()> {
        if self.at.elapsed() > CLAIM_TTL / 2 {
            return Err(Fenced {
                parent: parent.unwrap_or("(none)").into(),
                reason: format!(
                    "this run's claim is {} s old, past half of its {} s",
                    self.at.elapsed().as_secs(),
                    CLAIM_TTL.as_secs()
                ),
            }
            .into());
        }
        Ok(())
    }
}

/// The directory holding the claims of `parent`'s child.
fn slot(storage: &Storage, parent: Option<&str>) -> String {
    match parent {
        Some(p) => format!("{}{p}", storage.layout.backups_dir()),
        None => {
            let dir = storage.layout.backups_dir();
            format!("{}continuous/root", dir.strip_suffix("backups/").unwrap_or(&dir))
        }
    }
}

/// The number of a claim object's file name (`child-<n>.json`).
fn number(name: &str) -> Option<u32> {
    name.strip_prefix("child-")?.strip_suffix(".json")?.parse().ok()
}

fn holder() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("pid {}", std::process::id()))
}

/// Claims `child` as the one child of `parent` (see the module); [`Fenced`] when another
/// backup holds or took the place.
pub async fn claim_child(storage: &Storage, parent: Option<&str>, child: &str) -> anyhow::Result<Claim> {
    claim_within(storage, parent, child, CLAIM_TTL).await
}

/// [`claim_child`] with claims that hold for `ttl` (tests take abandoned claims over at once).
async fn claim_within(
    storage: &Storage,
    parent: Option<&str>,
    child: &str,
    ttl: Duration,
) -> anyhow::Result<Claim> {
    let dir = slot(storage, parent);
    let fenced = |reason: String| -> anyhow::Error {
        Fenced { parent: parent.unwrap_or("(none: first backup)").into(), reason }.into()
    };
    // A few rounds: each lost create is read again (it may be our own write whose answer was lost).
    for _ in 0..4 {
        let listed = storage
            .store
            .list_with_delimiter(Some(&object_store::path::Path::from(dir.as_str())))
            .await
            .with_context(|| format!("listing the claims in {dir}"))?;
        let newest = listed
            .objects
            .iter()
            .filter_map(|o| Some((number(o.location.filename()?)?, o)))
            .max_by_key(|(n, _)| *n);
        let next = match newest {
            None => 0,
            Some((n, meta)) => {
                let theirs = read(storage, &meta.location).await?;
                if theirs.child == child {
                    return Ok(Claim { at: Instant::now() });
                }
                let manifest = object_store::path::Path::from(storage.layout.manifest(&theirs.child));
                match storage.store.head(&manifest).await {
                    Ok(_) => return Err(fenced(format!("backup {} committed it", theirs.child))),
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(anyhow::Error::new(e).context(format!("checking {manifest}"))),
                }
                let age = chrono::Utc::now().signed_duration_since(meta.last_modified);
                if age.to_std().unwrap_or_default() < ttl {
                    return Err(fenced(format!(
                        "{} claimed it {} s ago for backup {} and may be committing it",
                        theirs.holder,
                        age.num_seconds(),
                        theirs.child
                    )));
                }
                tracing::warn!(parent = ?parent, abandoned = %theirs.child, holder = %theirs.holder,
                    "a claim on this restore point's child never committed within {} s: claiming after it",
                    ttl.as_secs());
                n + 1
            }
        };
        let record = ClaimRecord {
            child: child.into(),
            parent: parent.map(str::to_string),
            holder: holder(),
            claimed_at: crate::format::rfc3339(chrono::Utc::now()),
        };
        let at = object_store::path::Path::from(format!("{dir}/child-{next}.json"));
        let create = PutOptions { mode: PutMode::Create, ..Default::default() };
        match storage.store.put_opts(&at, PutPayload::from(serde_json::to_vec_pretty(&record)?), create).await
        {
            Ok(_) => {
                storage.sync(at.as_ref()).await.with_context(|| format!("flushing {at} to disk"))?;
                return Ok(Claim { at: Instant::now() });
            }
            Err(object_store::Error::AlreadyExists { .. }) => continue,
            Err(e) => return Err(anyhow::Error::new(e).context(format!("creating {at}"))),
        }
    }
    Err(fenced("its claims keep changing under this run".into()))
}

async fn read(storage: &Storage, at: &object_store::path::Path) -> anyhow::Result<ClaimRecord> {
    let bytes = storage.store.get(at).await.with_context(|| format!("reading {at}"))?.bytes().await?;
    serde_json::from_slice(&bytes).with_context(|| format!("{at} is not a lineage claim"))
}

/// Whether `e` is a lost race for the parent (nothing committed; plan again at once).
pub fn is_fenced(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<Fenced>().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(prefix: &str) -> Storage {
        Storage::in_memory(prefix)
    }

    async fn commit(storage: &Storage, id: &str) {
        let at = object_store::path::Path::from(storage.layout.manifest(id));
        storage.store.put(&at, PutPayload::from("{}")).await.expect("a manifest");
    }

    #[tokio::test]
    async fn one_child_per_parent_whoever_asks_first() {
        let s = location("");
        commit(&s, "p").await;
        claim_child(&s, Some("p"), "a").await.expect("the first claim wins");
        claim_child(&s, Some("p"), "a").await.expect("asking again for the same child is ours");
        let lost = claim_child(&s, Some("p"), "b").await.expect_err("a second child of p");
        assert!(is_fenced(&lost), "{lost:#}");
        commit(&s, "a").await;
        let lost = claim_child(&s, Some("p"), "b").await.expect_err("p has its child");
        assert!(format!("{lost:#}").contains("backup a committed it"), "{lost:#}");
        claim_child(&s, Some("a"), "b").await.expect("b continues a");
        claim_child(&s, None, "r").await.expect("a first backup claims the root");
        assert!(is_fenced(&claim_child(&s, None, "r2").await.expect_err("one root")));
    }

    #[tokio::test]
    async fn concurrent_claims_elect_exactly_one() {
        let s = location("pre/");
        commit(&s, "p").await;
        let tries: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { claim_child(&s, Some("p"), &format!("c{i}")).await.is_ok() })
            })
            .collect();
        let mut won = 0;
        for t in tries {
            won += usize::from(t.await.expect("joined"));
        }
        assert_eq!(won, 1);
    }

    #[tokio::test]
    async fn a_claim_that_never_committed_is_taken_over_after_its_time() {
        let s = location("");
        commit(&s, "p").await;
        claim_child(&s, Some("p"), "dead").await.expect("claimed, then the process died");
        assert!(is_fenced(&claim_child(&s, Some("p"), "b").await.expect_err("still within its time")));
        claim_within(&s, Some("p"), "b", Duration::ZERO).await.expect("taken over once expired");
        let claims: Vec<_> = s
            .store
            .list_with_delimiter(Some(&object_store::path::Path::from("backups/p")))
            .await
            .expect("listed")
            .objects
            .into_iter()
            .filter_map(|o| o.location.filename().filter(|f| f.starts_with("child-")).map(str::to_string))
            .collect();
        assert_eq!(claims, ["child-0.json", "child-1.json"]);
        // The taken-over claim holds for its own time like any other.
        assert!(is_fenced(
            &claim_child(&s, Some("p"), "dead").await.expect_err("the dead one lost its place")
        ));
    }

    #[test]
    fn claim_names_and_slots() {
        assert_eq!(number("child-0.json"), Some(0));
        assert_eq!(number("child-12.json"), Some(12));
        assert_eq!(number("manifest.json"), None);
        assert_eq!(slot(&location(""), Some("p")), "backups/p");
        assert_eq!(slot(&location("a/b/"), None), "a/b/continuous/root");
        assert_eq!(slot(&location("a/backups/"), None), "a/backups/continuous/root");
        let fresh = Claim { at: Instant::now() };
        fresh.still_fresh(Some("p")).expect("fresh");
        let old = Claim { at: Instant::now() - CLAIM_TTL };
        assert!(is_fenced(&old.still_fresh(Some("p")).expect_err("stale")));
    }
}
