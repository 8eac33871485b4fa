//! Conversions between the three ways the crate holds a time: chrono (the data plane and cron
//! arithmetic), Kubernetes `Time` (status fields) and RFC 3339 text (manifests and run results).
//! They live here, not with status writing, so that any module can convert without depending on
//! the operator.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The current time as a Kubernetes `Time`.
pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// A chrono time as a Kubernetes `Time` (to the millisecond, as status fields are written).
pub fn kube(t: chrono::DateTime<chrono::Utc>) -> Option<Time> {
    k8s_openapi::jiff::Timestamp::from_millisecond(t.timestamp_millis()).ok().map(Time)
}

/// A Kubernetes `Time` as a chrono time.
pub fn chrono(t: &Time) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp_millis(t.0.as_millisecond())
}

/// A data-plane RFC 3339 time (`2026-11-21T02:00:00.000Z`) as a Kubernetes `Time`.
pub fn parse(rfc3339: &str) -> Option<Time> {
    rfc3339.parse::<k8s_openapi::jiff::Timestamp>().ok().map(Time)
}

/// A data-plane RFC 3339 time as Unix seconds, for metrics.
pub fn unix_seconds(rfc3339: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339).ok().map(|t| t.timestamp_millis() as f64 / 1e3)
}

#[cfg(test)]
mod tests {
    #[test]
    fn kubernetes_and_chrono_times_round_trip_to_the_millisecond() {
        let t = chrono::DateTime::from_timestamp_millis(1_795_000_000_123).expect("in range");
        let k = super::kube(t).expect("in range");
        assert_eq!(super::chrono(&k), Some(t));
        assert_eq!(
            super::parse("2026-11-21T02:00:00.123Z")
                .and_then(|k| super::chrono(&k))
                .map(|c| c.timestamp_millis()),
            Some(1_795_226_400_123)
        );
        assert_eq!(super::unix_seconds("1970-01-01T00:00:01.500Z"), Some(1.5));
        assert_eq!(super::parse("yesterday"), None);
    }
}
