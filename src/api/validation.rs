//! Problems found in a spec, in the form every consumer shows them: the admission webhook's
//! denial, the controller's NotReady condition and Event. One type, so the webhook and the
//! controllers (which run the same rules again, for clusters without the webhook) say the same.

/// A problem with one field: the path users see (`spec.schedule.cron`) and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// Reads a spec (JSON, as the webhook receives it) into its type; a value that does not fit is
/// reported at its path (`spec.backup.compression: unknown variant …`), not as "invalid spec".
pub fn parse_spec<S: serde::de::DeserializeOwned>(spec: &serde_json::Value) -> Result<S, FieldError> {
    serde_path_to_error::deserialize(spec).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "spec".to_string() } else { format!("spec.{path}") };
        FieldError::new(field, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::KafkaBackupSpec;

    #[test]
    fn a_spec_that_does_not_fit_is_reported_at_its_path() {
        let spec = serde_json::json!({
            "kafkaCluster": {"bootstrapServers": "k:9092"},
            "storage": {"type": "s3", "s3": {"bucket": "b", "region": "r"}},
            "backup": {"compression": "brotli"}
        });
        let err = parse_spec::<KafkaBackupSpec>(&spec).expect_err("brotli");
        assert_eq!(err.path, "spec.backup.compression");
        assert!(err.message.contains("zstd"), "{err}");
        let err =
            parse_spec::<KafkaBackupSpec>(&serde_json::json!({"kafkaCluster": {}})).expect_err("missing");
        assert!(err.path.starts_with("spec"), "{err}");
    }
}
