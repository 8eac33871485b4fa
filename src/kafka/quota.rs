//! Client quotas. librdkafka (2.12) has no `DescribeClientQuotas`/`AlterClientQuotas`, so this
//! speaks those two requests of the Kafka protocol itself (API keys 48 and 49, version 0) on one
//! blocking connection to a bootstrap broker, which answers from its metadata (describe) or
//! forwards to the controller (alter).
//!
//! Only **PLAINTEXT** connections (no TLS, no SASL) are supported here: with any other security
//! setting quotas are reported as not captured / not restorable, never silently skipped.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::KafkaConnection;
use super::acl::MetadataError;
use crate::format::metadata::{QuotaEntity, QuotaEntry};

const DESCRIBE_CLIENT_QUOTAS: i16 = 48;
const ALTER_CLIENT_QUOTAS: i16 = 49;
/// Kafka's error codes this module tells apart.
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const UNSUPPORTED_VERSION: i16 = 35;
/// No answer may be larger (a quota description of many thousands of entities stays far below).
const MAX_RESPONSE: usize = 64 << 20;

/// Why quotas cannot be read or written over `conn` at all, if so.
pub fn unsupported(conn: &KafkaConnection) -> Option<String> {
    (conn.tls || conn.authentication.is_some()).then(|| {
        "client quotas are read and written over PLAINTEXT connections only (this cluster connection \
         uses TLS or SASL): see docs/data-plane.md"
            .to_string()
    })
}

fn refused(message: String) -> MetadataError {
    MetadataError { refused: true, message }
}

fn failed(message: String) -> MetadataError {
    MetadataError { refused: false, message }
}

/// Every quota entity of the cluster and its values (blocking), sorted.
pub fn describe_all(conn: &KafkaConnection, timeout: Duration) -> Result<Vec<QuotaEntry>, MetadataError> {
    if let Some(why) = unsupported(conn) {
        return Err(refused(why));
    }
    // Components: none (every entity), strict: false.
    let mut body = Vec::new();
    put_i32(&mut body, 0);
    body.push(0);
    let answer = call(conn, DESCRIBE_CLIENT_QUOTAS, &body, timeout)?;
    let mut r = Reader { bytes: &answer, at: 0 };
    let parse = |r: &mut Reader| -> Result<(i16, Option<String>, Vec<QuotaEntry>), String> {
        let _throttle = r.i32()?;
        let code = r.i16()?;
        let message = r.nullable_string()?;
        let mut entries = Vec::new();
        let n = r.i32()?;
        for _ in 0..n.max(0) {
            let mut entity = Vec::new();
            for _ in 0..r.i32()?.max(0) {
                entity.push(QuotaEntity { entity_type: r.string()?, entity_name: r.nullable_string()? });
            }
            let mut values = std::collections::BTreeMap::new();
            for _ in 0..r.i32()?.max(0) {
                let key = r.string()?;
                values.insert(key, r.f64()?);
            }
            entity.sort();
            entries.push(QuotaEntry { entity, values });
        }
        Ok((code, message, entries))
    };
    let (code, message, mut entries) = parse(&mut r)
        .map_err(|e| failed(format!("describing client quotas: the answer does not parse: {e}")))?;
    match code {
        0 => {}
        CLUSTER_AUTHORIZATION_FAILED | UNSUPPORTED_VERSION => {
            return Err(refused(format!(
                "describing client quotas: {} (error {code}; the client needs DescribeConfigs on the cluster)",
                message.unwrap_or_default()
            )));
        }
        _ => {
            return Err(failed(format!(
                "describing client quotas: Kafka error {code}: {}",
                message.unwrap_or_default()
            )));
        }
    }
    entries.sort_by(|a, b| a.entity.cmp(&b.entity));
    Ok(entries)
}

/// Sets every value of `entries` (blocking); values the target has for other keys stay. Setting
/// a value it already has changes nothing, so a rerun is harmless.
pub fn alter(conn: &KafkaConnection, entries: &[QuotaEntry], timeout: Duration) -> Result<(), MetadataError> {
    if entries.is_empty() {
        return Ok(());
    }
    if let Some(why) = unsupported(conn) {
        return Err(refused(why));
    }
    let mut body = Vec::new();
    put_len(&mut body, entries.len())?;
    for e in entries {
        put_len(&mut body, e.entity.len())?;
        for c in &e.entity {
            put_string(&mut body, Some(&c.entity_type))?;
            put_string(&mut body, c.entity_name.as_deref())?;
        }
        put_len(&mut body, e.values.len())?;
        for (key, value) in &e.values {
            put_string(&mut body, Some(key))?;
            body.extend_from_slice(&value.to_be_bytes());
            body.push(0); // remove: false
        }
    }
    body.push(0); // validateOnly: false
    let answer = call(conn, ALTER_CLIENT_QUOTAS, &body, timeout)?;
    let mut r = Reader { bytes: &answer, at: 0 };
    let parse = |r: &mut Reader| -> Result<Vec<(i16, Option<String>, String)>, String> {
        let _throttle = r.i32()?;
        let mut out = Vec::new();
        for _ in 0..r.i32()?.max(0) {
            let code = r.i16()?;
            let message = r.nullable_string()?;
            let mut entity = Vec::new();
            for _ in 0..r.i32()?.max(0) {
                let t = r.string()?;
                let n = r.nullable_string()?;
                entity.push(QuotaEntity { entity_type: t, entity_name: n }.to_string());
            }
            out.push((code, message, entity.join(",")));
        }
        Ok(out)
    };
    let results = parse(&mut r)
        .map_err(|e| failed(format!("altering client quotas: the answer does not parse: {e}")))?;
    for (code, message, entity) in results {
        match code {
            0 => {}
            CLUSTER_AUTHORIZATION_FAILED | UNSUPPORTED_VERSION => {
                return Err(refused(format!(
                    "setting the client quotas of {entity}: {} (error {code}; the client needs AlterConfigs on the cluster)",
                    message.unwrap_or_default()
                )));
            }
            _ => {
                return Err(failed(format!(
                    "setting the client quotas of {entity}: Kafka error {code}: {}",
                    message.unwrap_or_default()
                )));
            }
        }
    }
    Ok(())
}

/// Sends one request (header version 1, API version 0) to the first bootstrap broker that
/// accepts a connection, and returns the response body after its correlation id.
fn call(
    conn: &KafkaConnection,
    api_key: i16,
    body: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, MetadataError> {
    let what =
        if api_key == DESCRIBE_CLIENT_QUOTAS { "describing client quotas" } else { "altering client quotas" };
    let mut last = String::from("no bootstrap address");
    for server in conn.bootstrap_servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match call_one(server, api_key, body, timeout) {
            Ok(answer) => return Ok(answer),
            Err(e) => last = format!("{server}: {e}"),
        }
    }
    Err(failed(format!("{what}: {last}")))
}

fn call_one(server: &str, api_key: i16, body: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let addr = server
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let correlation = 1i32;
    let mut request = Vec::with_capacity(body.len() + 64);
    request.extend_from_slice(&api_key.to_be_bytes());
    request.extend_from_slice(&0i16.to_be_bytes());
    put_i32(&mut request, correlation);
    put_string(&mut request, Some("strimzi-backup")).map_err(|e| invalid(e.message))?;
    request.extend_from_slice(body);
    let size = i32::try_from(request.len()).map_err(|_| invalid("request too large".into()))?;
    stream.write_all(&size.to_be_bytes())?;
    stream.write_all(&request)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size =
        usize::try_from(i32::from_be_bytes(size)).map_err(|_| invalid("negative response size".into()))?;
    if !(4..=MAX_RESPONSE).contains(&size) {
        return Err(invalid(format!("response of {size} bytes")));
    }
    let mut answer = vec![0u8; size];
    stream.read_exact(&mut answer)?;
    let got = i32::from_be_bytes([answer[0], answer[1], answer[2], answer[3]]);
    if got != correlation {
        return Err(invalid(format!("response to request {got}, not {correlation}")));
    }
    answer.drain(..4);
    Ok(answer)
}

fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_len(out: &mut Vec<u8>, n: usize) -> Result<(), MetadataError> {
    put_i32(out, i32::try_from(n).map_err(|_| failed(format!("{n} entries are too many for one request")))?);
    Ok(())
}

/// A (nullable) protocol string: i16 length, -1 for null.
fn put_string(out: &mut Vec<u8>, s: Option<&str>) -> Result<(), MetadataError> {
    match s {
        None => out.extend_from_slice(&(-1i16).to_be_bytes()),
        Some(s) => {
            let n = i16::try_from(s.len()).map_err(|_| failed(format!("{s:?} is too long for Kafka")))?;
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    Ok(())
}

/// Reads the fields of a response body, failing on a short one rather than panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len()).ok_or_else(|| {
            format!("truncated at byte {} (wanted {n} more of {})", self.at, self.bytes.len())
        })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    fn nullable_string(&mut self) -> Result<Option<String>, String> {
        let n = self.i16()?;
        if n < 0 {
            return Ok(None);
        }
        let bytes = self.take(usize::try_from(n).unwrap_or(0))?;
        String::from_utf8(bytes.to_vec()).map(Some).map_err(|e| format!("a string is not UTF-8: {e}"))
    }

    fn string(&mut self) -> Result<String, String> {
        self.nullable_string()?.ok_or_else(|| "a null where a string must be".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_answers_fail_instead_of_panicking() {
        let mut r = Reader { bytes: &[0, 0, 0, 0, 0, 0, 0, 5, b'a'], at: 0 };
        assert_eq!(r.i32(), Ok(0));
        assert!(r.i16().is_ok());
        let err = r.nullable_string().expect_err("5 bytes announced, 1 there");
        assert!(err.contains("truncated"), "{err}");
        let mut null = Reader { bytes: &[0xff, 0xff], at: 0 };
        assert_eq!(null.nullable_string(), Ok(None));
    }

    #[test]
    fn tls_and_sasl_connections_are_refused_by_name() {
        let plain = KafkaConnection { bootstrap_servers: "k:9092".into(), ..Default::default() };
        assert!(unsupported(&plain).is_none());
        let tls = KafkaConnection { tls: true, ..plain };
        assert!(unsupported(&tls).is_some_and(|m| m.contains("PLAINTEXT")));
    }
}
