//! The proof, carried from the admission webhook to the restore controller, that the user who
//! created a `KafkaRestore` may restore its backup's `restorePolicy` (`crate::api::restore_policy`).
//!
//! Only the webhook knows the user (AdmissionReview `userInfo`); the controller must still refuse
//! a restore the webhook never saw (a cluster without the webhooks, or with them bypassed). So
//! the mutating webhook, once the user's access review passed, stamps the restore with two
//! annotations: who was authorized ([`AUTHORIZED_BY_ANNOTATION`]) and an HMAC-SHA256
//! ([`AUTHORIZATION_ANNOTATION`]) over that user, the restore's namespace and name, the backup and
//! the clusters it writes into, with a key only the operator holds ([`Key`], in the Secret
//! [`KEY_SECRET`] of its namespace, made on first start). The controller recomputes it before each
//! Job; a restore without a valid stamp waits with `Ready=False RestoreNotAuthorized`.
//!
//! Why these inputs: the mutating webhook runs before the API server gives the object its uid, so
//! the uid cannot be signed; the namespace and name (or, for `generateName`, the prefix) can, and
//! the spec is immutable (CEL `self == oldSelf`), so a stamp cannot be moved to another object or
//! to another backup or target. A stamp could be replayed only onto a new object of the same
//! name, backup and target created while the webhook is bypassed: exactly the restore that user
//! was allowed. The webhook keeps the stamp of the old object on every update, so nobody can
//! write one through it.
//!
//! Its room: `crate::api` (types) and the API client; used by `crate::admission` and
//! `crate::operator::restore`.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lc_rs::hmac;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::api::restore::{KafkaRestore, KafkaRestoreSpec};

/// Who the webhook authorized to restore (the requesting user's name).
pub const AUTHORIZED_BY_ANNOTATION: &str = "kafkabackup.com/restore-authorized-by";
/// The HMAC (hex) over the authorization, verified by the restore controller.
pub const AUTHORIZATION_ANNOTATION: &str = "kafkabackup.com/restore-authorization";
/// The Secret in the operator's namespace holding the HMAC key, made on the first start.
pub const KEY_SECRET: &str = "strimzi-backup-restore-authorization";
/// Its key.
const KEY_FIELD: &str = "key";
/// Versioned domain separation: a stamp means nothing to anything else keyed the same way.
const DOMAIN: &[u8] = b"strimzi-backup restore authorization v1";

/// The operator's key for restore authorizations; unset (no Secret could be read or made, or a
/// unit test) signs nothing and verifies nothing, so protected restores wait.
#[derive(Clone, Default)]
pub struct Key(Option<Arc<hmac::Key>>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Key(set)" } else { "Key(unset)" })
    }
}

/// What one stamp authorizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant<'a> {
    /// The restore's namespace.
    pub namespace: &'a str,
    /// The restore's name, or `generateName:<prefix>` when the name is generated.
    pub subject: &'a str,
    /// The `KafkaBackup` restored.
    pub backup_namespace: &'a str,
    pub backup: &'a str,
    /// The user the webhook's access review allowed.
    pub user: &'a str,
    /// The clusters written into ([`target`]).
    pub target: &'a str,
}

impl Grant<'_> {
    /// Each part length-prefixed, so no two grants read the same.
    fn message(&self) -> Vec<u8> {
        let mut out = DOMAIN.to_vec();
        for part in [self.namespace, self.subject, self.backup_namespace, self.backup, self.user, self.target]
        {
            out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

impl Key {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(Some(Arc::new(hmac::Key::new(hmac::HMAC_SHA256, bytes))))
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// The stamp of `grant` (hex), none without a key.
    pub fn sign(&self, grant: &Grant) -> Option<String> {
        let key = self.0.as_ref()?;
        Some(hex::encode(hmac::sign(key, &grant.message()).as_ref()))
    }

    /// Whether `stamp` is this key's for `grant` (compared in constant time).
    pub fn verify(&self, grant: &Grant, stamp: &str) -> bool {
        let (Some(key), Ok(tag)) = (self.0.as_ref(), hex::decode(stamp.trim())) else { return false };
        hmac::verify(key, &grant.message(), &tag).is_ok()
    }
}

/// The name a stamp signs for an object: its name, or `generateName:<prefix>` while the API
/// server has not generated it yet (the mutating webhook's view of `kubectl kafkabackup restore`).
pub fn subject(name: &str, generate_name: Option<&str>) -> String {
    match generate_name {
        Some(prefix) if name.is_empty() => format!("generateName:{prefix}"),
        _ => name.to_string(),
    }
}

/// The clusters a restore writes into, in a canonical form: the Strimzi `Kafka` or bootstrap
/// address it connects to, and where the backed-up Strimzi resources are declared.
pub fn target(spec: &KafkaRestoreSpec) -> String {
    let strimzi = spec.cluster.strimzi_cluster_ref.as_ref().map(|r| (&r.name, &r.namespace));
    let bootstrap = spec.cluster.kafka_cluster.as_ref().map(|k| &k.bootstrap_servers);
    let resources = spec.restore.strimzi_resources.as_ref().map(|r| (&r.target_namespace, &r.target_cluster));
    serde_json::to_string(&(strimzi, bootstrap, resources)).unwrap_or_default()
}

/// The user the stamp on `kr` authorizes to restore the `KafkaBackup` `backup_namespace/backup`,
/// or why it does not.
pub fn check(
    key: &Key,
    kr: &KafkaRestore,
    backup_namespace: &str,
    backup: &str,
) -> Result<String, &'static str> {
    let annotations = kr.metadata.annotations.clone().unwrap_or_default();
    let (Some(user), Some(stamp)) =
        (annotations.get(AUTHORIZED_BY_ANNOTATION), annotations.get(AUTHORIZATION_ANNOTATION))
    else {
        return Err(
            "it was not created through the operator's admission webhook, which checks the user's right",
        );
    };
    if !key.is_set() {
        return Err("the operator has no restore authorization key to check its stamp with");
    }
    let namespace = kr.metadata.namespace.as_deref().unwrap_or_default();
    let name = kr.metadata.name.as_deref().unwrap_or_default();
    let target = target(&kr.spec);
    let generated =
        kr.metadata.generate_name.as_deref().filter(|p| name.starts_with(p)).map(|p| subject("", Some(p)));
    let authorized = [Some(name.to_string()), generated].into_iter().flatten().any(|subject| {
        let grant = Grant { namespace, subject: &subject, backup_namespace, backup, user, target: &target };
        key.verify(&grant, stamp)
    });
    if authorized { Ok(user.clone()) } else { Err("its authorization stamp is not valid for this restore") }
}

/// The operator's key, from the Secret [`KEY_SECRET`] in `namespace`, made with 32 random bytes
/// when absent (another replica making it at the same time: its key is read).
pub async fn load_or_create(client: kube::Client, namespace: &str) -> Result<Key, String> {
    let api: Api<Secret> = Api::namespaced(client, namespace);
    for _ in 0..2 {
        if let Some(secret) = api
            .get_opt(KEY_SECRET)
            .await
            .map_err(|e| format!("reading Secret {namespace}/{KEY_SECRET}: {e}"))?
        {
            let bytes = secret.data.as_ref().and_then(|d| d.get(KEY_FIELD)).map(|b| b.0.clone());
            return match bytes {
                Some(b) if b.len() >= 32 => Ok(Key::from_bytes(&b)),
                _ => Err(format!(
                    "Secret {namespace}/{KEY_SECRET} has no key `{KEY_FIELD}` of 32 bytes or more; delete it and the operator makes a new one"
                )),
            };
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| format!("no randomness for the restore authorization key: {e}"))?;
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(KEY_SECRET.into()),
                // SPEC §6's labels, as on everything the operator creates; the operator itself
                // is the instance.
                labels: Some(crate::operator::job::labels(
                    "restore-authorization",
                    "strimzi-backup-operator",
                    None,
                )),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(KEY_FIELD.into(), ByteString(bytes.to_vec()))])),
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &secret).await {
            Ok(_) => return Ok(Key::from_bytes(&bytes)),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(format!("creating Secret {namespace}/{KEY_SECRET}: {e}")),
        }
    }
    Err(format!("Secret {namespace}/{KEY_SECRET} was made and gone again; restart to retry"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::cluster::StrimziClusterRef;

    fn restore(name: &str, generate_name: Option<&str>, kafka: &str) -> KafkaRestore {
        let mut kr = KafkaRestore::new(name, KafkaRestoreSpec::default());
        kr.metadata.namespace = Some("a".into());
        kr.metadata.generate_name = generate_name.map(Into::into);
        kr.spec.cluster.strimzi_cluster_ref =
            Some(StrimziClusterRef { name: kafka.into(), namespace: None, listener_name: None });
        kr
    }

    /// `kr` stamped as the webhook stamps it for `user` (signing `subject`).
    fn stamp(key: &Key, mut kr: KafkaRestore, subject: &str, user: &str) -> KafkaRestore {
        let target = target(&kr.spec);
        let grant = Grant {
            namespace: "a",
            subject,
            backup_namespace: "prod",
            backup: "orders",
            user,
            target: &target,
        };
        kr.metadata.annotations = Some(BTreeMap::from([
            (AUTHORIZED_BY_ANNOTATION.to_string(), user.to_string()),
            (AUTHORIZATION_ANNOTATION.to_string(), key.sign(&grant).unwrap_or_default()),
        ]));
        kr
    }

    #[test]
    fn a_stamp_authorizes_one_restore_of_one_backup_into_one_target_for_one_user() {
        let key = Key::from_bytes(&[7; 32]);
        let kr = stamp(&key, restore("r1", None, "dr"), "r1", "alice");
        assert_eq!(check(&key, &kr, "prod", "orders"), Ok("alice".to_string()));
        assert!(check(&key, &kr, "prod", "payments").is_err(), "another backup");
        let moved = |f: &dyn Fn(&mut KafkaRestore)| {
            let mut other = kr.clone();
            f(&mut other);
            check(&key, &other, "prod", "orders")
        };
        assert!(moved(&|k| k.metadata.name = Some("r2".into())).is_err(), "another restore");
        assert!(moved(&|k| k.metadata.namespace = Some("b".into())).is_err(), "another namespace");
        assert!(
            moved(&|k| k
                .spec
                .cluster
                .strimzi_cluster_ref
                .as_mut()
                .into_iter()
                .for_each(|r| r.name = "prod".into()))
            .is_err(),
            "another target"
        );
        let claimed = |k: &mut KafkaRestore| {
            k.metadata.annotations.as_mut().into_iter().for_each(|a| {
                a.insert(AUTHORIZED_BY_ANNOTATION.into(), "bob".into());
            })
        };
        assert!(moved(&claimed).is_err(), "another user");
        assert!(check(&Key::from_bytes(&[8; 32]), &kr, "prod", "orders").is_err(), "another key");
        assert!(check(&Key::default(), &kr, "prod", "orders").is_err(), "no key");
        let none = check(&key, &restore("r1", None, "dr"), "prod", "orders").expect_err("no stamp");
        assert!(none.contains("admission webhook"), "{none}");
    }

    #[test]
    fn a_generated_name_is_authorized_by_its_prefix() {
        let key = Key::from_bytes(&[7; 32]);
        let prefix = "orders-restore-";
        let signed = subject("", Some(prefix));
        let kr = stamp(&key, restore("orders-restore-x7k2p", Some(prefix), "dr"), &signed, "alice");
        assert_eq!(check(&key, &kr, "prod", "orders"), Ok("alice".to_string()));
        let other = stamp(&key, restore("other-x7k2p", Some(prefix), "dr"), &signed, "alice");
        assert!(check(&key, &other, "prod", "orders").is_err(), "a name not from the prefix");
        assert_eq!(subject("r1", Some(prefix)), "r1");
    }
}
