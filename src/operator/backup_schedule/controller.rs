//! The `KafkaBackupSchedule` reconcile: validate → observe (the `Kafka`s its selector matches in
//! the namespaces it may select from, the `KafkaBackup`s it owns) → [`decide`] → act (one
//! server-side apply per `KafkaBackup` to create or change, under the operator's field manager,
//! with the schedule as controlling owner; an Event for a cluster backed up, left or back) →
//! status. The `KafkaBackup` controller does the backups; deleting the schedule deletes its
//! `KafkaBackup`s (owner references), whose `deletionPolicy` decides what happens to the data.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::Selector;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::decide::{self, Desired, SeenBackup, SeenKafka};
use crate::api::KafkaBackup;
use crate::api::backup_schedule::{
    CLUSTER_ANNOTATION, KafkaBackupSchedule, KafkaId, SCHEDULE_UID_LABEL, ScheduleReason,
};
use crate::operator::context::{Context, MANAGER};
use crate::operator::error::{Error, Result};
use crate::operator::settings::Watched;
use crate::operator::status::{set_ready, write};

/// How often a schedule is looked at without any change: the `Kafka` watch wakes it at once;
/// this catches a watch that missed something, and Strimzi installed after the operator.
const RESYNC: Duration = Duration::from_secs(300);
/// Without Strimzi's `Kafka` served, how soon to look again.
const NO_STRIMZI_RETRY: Duration = Duration::from_secs(30);

pub async fn reconcile(kbs: Arc<KafkaBackupSchedule>, ctx: Arc<Context>) -> Result<Action> {
    let before = kbs.status.clone();
    let mut status = before.clone().unwrap_or_default();
    let problems = crate::api::backup_schedule::rules::problems(&kbs.spec);
    if !problems.is_empty() {
        let message = crate::api::rules::message(&problems);
        if set_ready(&mut status.conditions, ScheduleReason::InvalidSpec, &message, &crate::time::now()) {
            event(&ctx, &kbs, true, "InvalidSpec", message).await;
        }
        status.observed_generation = kbs.metadata.generation;
        write(&ctx.client, kbs.as_ref(), &before, &status).await?;
        return Ok(Action::await_change());
    }
    let served = ctx.strimzi.served(crate::strimzi::TTL).await.map_err(Error::read("Strimzi's API"))?;
    let resource = served.resource("Kafka").cloned();
    let kafkas = match &resource {
        Some(r) => list_kafkas(&ctx, &kbs, r).await?,
        None => Vec::new(),
    };
    let backups = list_backups(&ctx, &kbs, &kafkas).await?;
    let plan = decide::decide(&kbs, &kafkas, &backups);
    for desired in &plan.apply {
        apply(&ctx, &kbs, desired).await?;
        if let Some(reason) = desired.event {
            let note = match reason {
                "BackupCreated" => {
                    format!("KafkaBackup {} backs up Kafka {}", desired.name, desired.kafka.key())
                }
                "ClusterUnselected" => format!(
                    "Kafka {} left the selection: KafkaBackup {} is suspended, its backups are kept",
                    desired.kafka.key(),
                    desired.name
                ),
                _ => format!(
                    "Kafka {} is selected again: KafkaBackup {} resumes",
                    desired.kafka.key(),
                    desired.name
                ),
            };
            let related = k8s_openapi::api::core::v1::ObjectReference {
                api_version: Some(KafkaBackup::api_version(&()).into()),
                kind: Some(KafkaBackup::kind(&()).into()),
                namespace: kbs.namespace(),
                name: Some(desired.name.clone()),
                ..Default::default()
            };
            ctx.event_related(&kbs.object_ref(&()), related, false, reason, "Schedule", note).await;
        }
    }
    let selected = plan.clusters.iter().filter(|c| c.selected).count();
    let owned = plan
        .clusters
        .iter()
        .filter(|c| c.selected || backups.iter().any(|b| b.owned && b.name == c.backup))
        .count();
    status.selected_clusters = i32::try_from(selected).ok();
    status.backups = i32::try_from(owned).ok();
    status.clusters = plan.clusters.clone();
    let message = if resource.is_none() {
        "Strimzi's Kafka resource is not served in this cluster (install Strimzi's CRDs): no cluster to select".to_string()
    } else {
        plan.message.clone()
    };
    if set_ready(&mut status.conditions, plan.reason, &message, &crate::time::now())
        && plan.reason == ScheduleReason::ForeignObject
    {
        event(&ctx, &kbs, true, "ForeignObject", message).await;
    }
    status.observed_generation = kbs.metadata.generation;
    write(&ctx.client, kbs.as_ref(), &before, &status).await?;
    Ok(Action::requeue(if resource.is_none() { NO_STRIMZI_RETRY } else { RESYNC }))
}

async fn event(ctx: &Context, kbs: &KafkaBackupSchedule, warning: bool, reason: &str, note: String) {
    ctx.event(&kbs.object_ref(&()), warning, reason, "Schedule", note).await;
}

/// The namespaces `kbs` lists `Kafka`s in: those its `namespaceSelector` allows, within the
/// operator's watched ones; `None` is all of them (one cluster-wide list).
fn namespaces(kbs: &KafkaBackupSchedule, watched: &Watched) -> Option<Vec<String>> {
    let own = kbs.namespace().unwrap_or_default();
    let wanted: Option<Vec<String>> = match &kbs.spec.namespace_selector {
        None => Some(vec![own]),
        Some(s) if s.any => None,
        Some(s) => Some(s.match_names.clone()),
    };
    match (wanted, watched) {
        (None, Watched::All) => None,
        (None, Watched::Namespaces(list)) => Some(list.clone()),
        (Some(w), Watched::All) => Some(w),
        (Some(w), Watched::Namespaces(list)) => Some(w.into_iter().filter(|n| list.contains(n)).collect()),
    }
}

/// The `Kafka`s matching the selector (filtered by the API server) where `kbs` may select.
async fn list_kafkas(
    ctx: &Context,
    kbs: &KafkaBackupSchedule,
    resource: &ApiResource,
) -> Result<Vec<SeenKafka>> {
    // The rules checked the selector; one the conversion still refuses selects nothing.
    let Ok(selector) = Selector::try_from(kbs.spec.cluster_selector.clone()) else {
        return Ok(Vec::new());
    };
    let params = ListParams::default().labels(&selector.to_string());
    let apis: Vec<Api<DynamicObject>> = match namespaces(kbs, &ctx.settings.watched) {
        None => vec![Api::all_with(ctx.client.clone(), resource)],
        Some(list) => list.iter().map(|ns| Api::namespaced_with(ctx.client.clone(), ns, resource)).collect(),
    };
    let mut seen = Vec::new();
    for api in apis {
        let list = api.list(&params).await.map_err(Error::read("Strimzi Kafka resources"))?;
        seen.extend(list.items.into_iter().map(|k| SeenKafka {
            id: KafkaId::new(k.namespace().unwrap_or_default(), k.name_any()),
            labels: k.labels().clone(),
            annotations: k.annotations().clone(),
        }));
    }
    Ok(seen)
}

/// The `KafkaBackup`s `kbs` owns (by its uid label), plus any under the name an owned one would
/// get for a newly selected cluster (to refuse taking what is not ours).
async fn list_backups(
    ctx: &Context,
    kbs: &KafkaBackupSchedule,
    kafkas: &[SeenKafka],
) -> Result<Vec<SeenBackup>> {
    let namespace = kbs.namespace().unwrap_or_default();
    let uid = kbs.uid().unwrap_or_default();
    let api: Api<KafkaBackup> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = ListParams::default().labels(&format!("{SCHEDULE_UID_LABEL}={uid}"));
    let list = api.list(&params).await.map_err(Error::read("the schedule's KafkaBackups"))?;
    let mut seen: Vec<SeenBackup> = list.items.iter().map(|kb| observed(kb, &uid)).collect();
    let name = kbs.name_any();
    for k in kafkas {
        let known = seen.iter().any(|b| b.cluster.as_ref() == Some(&k.id));
        let backup = crate::api::backup_schedule::backup_name(&name, &namespace, &k.id);
        if known || seen.iter().any(|b| b.name == backup) {
            continue;
        }
        if let Some(kb) = api.get_opt(&backup).await.map_err(Error::read(format!("KafkaBackup {backup}")))? {
            seen.push(observed(&kb, &uid));
        }
    }
    Ok(seen)
}

fn observed(kb: &KafkaBackup, uid: &str) -> SeenBackup {
    let owned = kb.owner_references().iter().any(|o| o.controller == Some(true) && o.uid == uid);
    SeenBackup {
        name: kb.name_any(),
        cluster: kb.annotations().get(CLUSTER_ANNOTATION).and_then(|k| KafkaId::parse(k)),
        owned,
        labels: kb.labels().clone(),
        spec: kb.spec.clone(),
        status: kb.status.clone(),
    }
}

/// Server-side apply of one owned `KafkaBackup`: the whole spec, its labels, the cluster
/// annotation and the schedule as controlling owner. Forced: the schedule's template wins over
/// a hand edit of a field it sets.
async fn apply(ctx: &Context, kbs: &KafkaBackupSchedule, desired: &Desired) -> Result<()> {
    let namespace = kbs.namespace().unwrap_or_default();
    let api: Api<KafkaBackup> = Api::namespaced(ctx.client.clone(), &namespace);
    let owner =
        kbs.controller_owner_ref(&()).ok_or_else(|| Error::Render("the schedule has no uid yet".into()))?;
    let object = serde_json::json!({
        "apiVersion": KafkaBackup::api_version(&()),
        "kind": KafkaBackup::kind(&()),
        "metadata": {
            "name": desired.name,
            "namespace": namespace,
            "labels": desired.labels,
            "annotations": desired.annotations,
            "ownerReferences": [owner],
        },
        "spec": desired.spec,
    });
    api.patch(&desired.name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&object))
        .await
        .map(|_| ())
        .map_err(Error::write(format!("KafkaBackup {}", desired.name)))
}

/// Which schedules a change of the `Kafka` `kafka` (with `labels`) wakes: those that select it
/// now, and those that list it (it may just have left their selection).
pub fn wakes(
    schedules: &[Arc<KafkaBackupSchedule>],
    kafka: &KafkaId,
    labels: &std::collections::BTreeMap<String, String>,
) -> Vec<kube::runtime::reflector::ObjectRef<KafkaBackupSchedule>> {
    schedules
        .iter()
        .filter(|s| {
            decide::matches(s, kafka, labels)
                || s.status.as_ref().is_some_and(|st| {
                    st.clusters.iter().any(|c| c.namespace == kafka.namespace && c.name == kafka.name)
                })
        })
        .map(|s| kube::runtime::reflector::ObjectRef::from_obj(s.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kbs(selector: &str, status: Option<&str>) -> Arc<KafkaBackupSchedule> {
        let yaml = format!(
            "clusterSelector: {selector}\nschedule: {{cron: '0 2 * * *'}}\nbackupTemplate: {{storage: {{type: s3, s3: {{bucket: b, region: r}}}}}}\n"
        );
        let mut k = KafkaBackupSchedule::new("s", serde_yaml_ng::from_str(&yaml).expect("spec"));
        k.metadata.namespace = Some("ops".into());
        k.status = status.map(|s| serde_yaml_ng::from_str(s).expect("status"));
        Arc::new(k)
    }

    #[test]
    fn a_kafka_wakes_the_schedules_that_select_it_and_those_it_just_left() {
        let selecting = kbs("{matchLabels: {backup: nightly}}", None);
        let listing = kbs(
            "{matchLabels: {backup: weekly}}",
            Some("clusters: [{namespace: ops, name: a, backup: s-a, selected: true}]"),
        );
        let other = kbs("{matchLabels: {backup: weekly}}", None);
        let labels = [("backup".to_string(), "nightly".to_string())].into();
        let woken = wakes(&[selecting, listing, other], &KafkaId::new("ops", "a"), &labels);
        assert_eq!(woken.len(), 2);
        let elsewhere = wakes(&[kbs("{}", None)], &KafkaId::new("team-b", "a"), &labels);
        assert!(elsewhere.is_empty(), "only the own namespace without a namespaceSelector");
    }

    #[test]
    fn the_namespaces_listed_are_the_selected_ones_the_operator_watches() {
        let mut k = (*kbs("{}", None)).clone();
        let watched = Watched::Namespaces(vec!["ops".into(), "team-b".into()]);
        assert_eq!(namespaces(&k, &watched), Some(vec!["ops".to_string()]));
        assert_eq!(namespaces(&k, &Watched::All), Some(vec!["ops".to_string()]));
        k.spec.namespace_selector =
            Some(crate::api::backup_schedule::NamespaceSelector { any: true, match_names: vec![] });
        assert_eq!(namespaces(&k, &Watched::All), None);
        assert_eq!(namespaces(&k, &watched), Some(vec!["ops".to_string(), "team-b".to_string()]));
        k.spec.namespace_selector = Some(crate::api::backup_schedule::NamespaceSelector {
            any: false,
            match_names: vec!["team-b".into(), "team-x".into()],
        });
        assert_eq!(namespaces(&k, &watched), Some(vec!["team-b".to_string()]));
    }
}
