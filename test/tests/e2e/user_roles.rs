//! The users' roles of `config/rbac` (`*_editor_role.yaml`, `*_viewer_role.yaml`, shipped by
//! every install path) against the real API server's authorizer: every kind has both, each allows
//! what docs/install.md says and nothing more, and above all no user writes a `KafkaRestorePoint`
//! or its status — editors included — since only the operator keeps restore points (issue 15 §1)
//! and records the drills' verification on them (§4); a drill editor creates drills.
//!
//! The local control plane runs no ClusterRole aggregation controller, so each role is installed
//! under a test-unique name and bound directly by a RoleBinding in a namespace of the test, to a
//! user of its own; the aggregation labels (admin/edit for editors, view for viewers) are checked
//! as the files declare them.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use strimzi_backup_e2e::env::workspace_root;
use strimzi_backup_e2e::fixtures::{Cluster, unique_suffix, wait_until};

/// The eight kinds' plural names, each with an editor and a viewer role.
const KINDS: [&str; 8] = [
    "kafkabackups",
    "kafkarestores",
    "kafkaoffsetresets",
    "kafkabackuplocations",
    "kafkarestorepoints",
    "kafkarestoredrills",
    "kafkabackupschedules",
    "kafkadataerasures",
];
/// Every verb a user might try.
const VERBS: [&str; 8] = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];
const READ: [&str; 3] = ["get", "list", "watch"];

/// The shipped roles: `config/rbac/<kind>_{editor,viewer}_role.yaml`, by file name.
fn shipped_roles() -> anyhow::Result<BTreeMap<String, ClusterRole>> {
    let mut roles = BTreeMap::new();
    for entry in std::fs::read_dir(workspace_root().join("config/rbac"))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if name.ends_with("_editor_role.yaml") || name.ends_with("_viewer_role.yaml") {
            roles.insert(name, serde_yaml_ng::from_str(&std::fs::read_to_string(&path)?)?);
        }
    }
    Ok(roles)
}

/// Whether `user` may `verb` `resource` (with `/subresource`) of kafkabackup.com in `ns`.
async fn allowed(
    cluster: &Cluster,
    user: &str,
    ns: &str,
    verb: &str,
    resource: &str,
) -> anyhow::Result<bool> {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_string())),
        None => (resource, None),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            resource_attributes: Some(ResourceAttributes {
                group: Some("kafkabackup.com".into()),
                namespace: Some(ns.into()),
                resource: Some(resource.into()),
                subresource,
                verb: Some(verb.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(cluster.client.clone());
    let answer = api.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

#[tokio::test]
async fn users_roles_let_editors_write_every_kind_but_restore_points_which_all_only_read()
-> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    cluster.install_crds().await?;
    let roles = shipped_roles()?;
    let mut expected: Vec<String> = KINDS
        .iter()
        .flat_map(|k| ["editor", "viewer"].map(|r| format!("{}_{r}_role.yaml", &k[..k.len() - 1])))
        .collect();
    expected.sort();
    assert_eq!(roles.keys().cloned().collect::<Vec<_>>(), expected, "an editor and a viewer role per kind");

    let ns = cluster.namespace("user-roles").await?;
    let s = unique_suffix();
    let cluster_roles: Api<ClusterRole> = Api::all(cluster.client.clone());
    let mut installed = Vec::new();
    let result = async {
        let mut users = Vec::new();
        for (file, role) in &roles {
            let name = role.metadata.name.clone().unwrap_or_default();
            let labels = role.metadata.labels.clone().unwrap_or_default();
            let aggregates_to: Vec<&str> = ["admin", "edit", "view"]
                .into_iter()
                .filter(|r| labels.get(&format!("rbac.authorization.k8s.io/aggregate-to-{r}")).map(String::as_str) == Some("true"))
                .collect();
            let editor = file.ends_with("_editor_role.yaml");
            assert_eq!(aggregates_to, if editor { vec!["admin", "edit"] } else { vec!["view"] }, "{file}");

            let unique = format!("{name}-{s}");
            let mut copy = serde_json::to_value(role)?;
            copy["metadata"] = json!({"name": unique});
            cluster.apply(&ns, &serde_json::from_value(copy)?).await?;
            installed.push(unique.clone());
            let user = format!("user-{unique}");
            let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": unique},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": unique},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]});
            cluster.apply(&ns, &serde_json::from_value(binding)?).await?;
            let kind = format!("{}s", file.split('_').next().unwrap_or_default());
            users.push((file.clone(), kind, editor, user));
        }
        // The authorizer sees new bindings through its informers: wait until the first is in.
        let (_, kind, _, user) = &users[0];
        wait_until(Duration::from_secs(30), "the RoleBindings in the authorizer", || async {
            Ok(allowed(&cluster, user, &ns, "get", kind).await?.then_some(()))
        })
        .await?;

        for (file, kind, editor, user) in &users {
            let writes = *editor && kind != "kafkarestorepoints";
            for verb in VERBS {
                // deletecollection is no verb the roles grant; editors write one object at a time.
                let want = READ.contains(&verb) || (writes && verb != "deletecollection");
                assert_eq!(allowed(&cluster, user, &ns, verb, kind).await?, want, "{file}: {verb} {kind}");
                let status = format!("{kind}/status");
                assert_eq!(allowed(&cluster, user, &ns, verb, &status).await?, verb == "get", "{file}: {verb} {status}");
            }
            // Nothing of another kind.
            for other in KINDS.iter().filter(|k| **k != kind.as_str()) {
                assert!(!allowed(&cluster, user, &ns, "get", other).await?, "{file}: get {other}");
            }
            // A restore point's verification is the drills' evidence, written by the operator
            // alone: no role, the drill editor's included, writes restore points' status.
            for verb in ["update", "patch"] {
                let status = "kafkarestorepoints/status";
                assert!(!allowed(&cluster, user, &ns, verb, status).await?, "{file}: {verb} {status}");
            }
        }

        // As a user meets it: an editor of drills creates one, a viewer of drills cannot.
        let user_of = |role: &str| {
            users
                .iter()
                .find(|(file, ..)| file == role)
                .map(|(.., user)| user.clone())
                .ok_or_else(|| anyhow::anyhow!("no user for {role}"))
        };
        let drill = format!(
            "apiVersion: kafkabackup.com/v1alpha1\nkind: KafkaRestoreDrill\nmetadata: {{name: weekly-{s}}}\nspec:\n  backupRef: {{name: nightly}}\n  schedule: {{cron: '0 4 * * 0', suspend: true}}\n"
        );
        let drill_file = std::env::temp_dir().join(format!("drill-{s}.yaml"));
        std::fs::write(&drill_file, &drill)?;
        let create_drill = |user: &str| {
            cluster.kubectl(&["--as", user, "-n", &ns, "create", "-f", &drill_file.to_string_lossy()])
        };
        let viewer = create_drill(&user_of("kafkarestoredrill_viewer_role.yaml")?);
        let editor = create_drill(&user_of("kafkarestoredrill_editor_role.yaml")?);
        let _ = std::fs::remove_file(&drill_file);
        let (viewer, editor) = (viewer?, editor?);
        let viewer_err = String::from_utf8_lossy(&viewer.stderr);
        anyhow::ensure!(
            !viewer.status.success() && viewer_err.contains("forbidden"),
            "a drill viewer created a drill: {viewer_err}"
        );
        anyhow::ensure!(editor.status.success(), "a drill editor: {}", String::from_utf8_lossy(&editor.stderr));

        // An editor of restore points lists them but cannot make one.
        let (_, _, _, user) = users
            .iter()
            .find(|(file, ..)| file == "kafkarestorepoint_editor_role.yaml")
            .ok_or_else(|| anyhow::anyhow!("no restore point editor"))?;
        let list = cluster.kubectl(&["--as", user, "-n", &ns, "get", "krp"])?;
        anyhow::ensure!(list.status.success(), "get krp as {user}: {}", String::from_utf8_lossy(&list.stderr));
        let point = json!({"apiVersion": "kafkabackup.com/v1alpha1", "kind": "KafkaRestorePoint",
            "metadata": {"name": "forged"},
            "spec": {"backupId": "forged", "source": {"kind": "KafkaBackupLocation", "name": "dr"},
                "formatVersion": 2, "capturedAt": "2026-02-13T02:00:00Z", "completedAt": "2026-02-13T02:15:23Z",
                "compression": "zstd",
                "totals": {"topics": 0, "partitions": 0, "records": 0, "rawBytes": 0, "storedBytes": 0}}});
        let file = std::env::temp_dir().join(format!("forged-krp-{s}.json"));
        std::fs::write(&file, serde_json::to_string(&point)?)?;
        let create = cluster.kubectl(&["--as", user, "-n", &ns, "create", "-f", &file.to_string_lossy()]);
        let _ = std::fs::remove_file(&file);
        let create = create?;
        let stderr = String::from_utf8_lossy(&create.stderr);
        anyhow::ensure!(
            !create.status.success() && stderr.contains("forbidden") && stderr.contains("kafkarestorepoints"),
            "an editor created a restore point: {}{stderr}",
            String::from_utf8_lossy(&create.stdout)
        );
        anyhow::Ok(())
    }
    .await;
    for name in &installed {
        let _ = cluster_roles.delete(name, &DeleteParams::default()).await;
    }
    cluster.delete_namespace(&ns).await?;
    result
}
