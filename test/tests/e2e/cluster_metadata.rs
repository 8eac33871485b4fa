//! Cluster metadata with each backup: ACLs, client quotas, SCRAM mechanisms, on a broker with an authorizer (issue 16 §3).
