#!/usr/bin/env python3
"""How long a continuous backup's iteration takes with many restore points at the location, and
how many manifests it reads (docs/continuous-backup.md, "Not done yet").

Seeds a fresh prefix at the local MinIO with one real backup of a small topic plus N copies of
its manifest under older ids (each a valid restore point: same segments, its own id, checksum
recomputed), then runs `backup` in continuous mode (commitInterval 10s) on it for a few
iterations and prints each iteration's `took_ms` (from its log), the manifests it read
(`manifests_read_total`, when the build has it) and its peak RSS.

    hack/bench-manifest-reads.py [--binary target/debug/strimzi-backup-operator] [--points 1000]
        [--iterations 5] [--pad-segments 0]

Needs the local environment (hack/env-up.sh) and boto3. Leaves the prefix behind
(bench-manifests-<suffix>/ in the e2e bucket).
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_env():
    env = {}
    with open(os.path.join(ROOT, ".local-env", "env")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


def kafka_tool(env, main_class, *args):
    """One of Apache Kafka's tools by class, as hack/bench.sh runs them."""
    cmd = ["java", "-Xmx512m", "-cp", os.path.join(env["KAFKA_HOME"], "libs", "*"), main_class, *args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def config(env, prefix, topic, extra):
    return (
        f"kafka:\n  bootstrapServers: {env['KAFKA_BOOTSTRAP']}\nstorage:\n  type: s3\n  s3:\n"
        f"    bucket: {env['MINIO_BUCKET']}\n    region: {env['MINIO_REGION']}\n"
        f"    endpoint: {env['MINIO_ENDPOINT']}\n    forcePathStyle: true\n    prefix: {prefix}\n"
        f"topics:\n  include: [\"{topic}\"]\nbackup:\n  clusterMetadata: false\n{extra}"
    )


def process_env(env, metrics):
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": env["MINIO_ACCESS_KEY"],
        "AWS_SECRET_ACCESS_KEY": env["MINIO_SECRET_KEY"],
        "STRIMZI_BACKUP_METRICS_ADDRESS": metrics,
        "RUST_LOG": "info",
    }


def padded(manifest, segments):
    """The manifest with `segments` more entries in its first partition, each a copy of its first
    segment under another name: the size of a long lineage's manifest (their objects do not
    exist; only restoring these restore points would notice)."""
    if segments == 0:
        return manifest
    m = json.loads(json.dumps(manifest))
    partition = m["topics"][0]["partitions"][0]
    first = partition["segments"][0]
    for i in range(segments):
        extra = dict(first)
        extra["object"] = first["object"].rsplit("/", 1)[0] + f"/pad-{i:08d}.seg"
        partition["segments"].append(extra)
    return m


def seed(s3, bucket, prefix, real_id, points, pad):
    """N copies of the real manifest under older ids, each with its own id and checksum."""
    key = f"{prefix}backups/{real_id}/manifest.json"
    stored = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    base = padded(stored["manifest"], pad)
    body = None
    for i in range(points):
        m = dict(base)
        m["backupId"] = f"backup-20250101-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}-000-seed{i:04d}"
        m.pop("parentId", None)
        m["startedAt"] = f"2025-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
        m["completedAt"] = f"2025-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.500Z"
        canonical = json.dumps(m, separators=(",", ":"), ensure_ascii=False).encode()
        body = json.dumps({"manifest": m, "sha256": hashlib.sha256(canonical).hexdigest()}, indent=2)
        s3.put_object(Bucket=bucket, Key=f"{prefix}backups/{m['backupId']}/manifest.json", Body=body.encode())
    return len(body or "")


def metric(address, name):
    try:
        text = urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"strimzi_backup_continuous_{name}{{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/debug/strimzi-backup-operator"))
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--port", type=int, default=39191)
    ap.add_argument("--pad-segments", type=int, default=0,
                    help="segment entries added to each seeded manifest (a long lineage's size)")
    args = ap.parse_args()
    env = load_env()
    suffix = f"{int(time.time())}"
    topic, prefix = f"benchmanifests{suffix}", f"bench-manifests-{suffix}/"
    kafka_tool(env, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", env["KAFKA_BOOTSTRAP"], "--create",
               "--topic", topic, "--partitions", "3", "--replication-factor", "1")
    kafka_tool(env, "org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records", "3000",
               "--record-size", "200", "--throughput", "-1", "--producer-props",
               f"bootstrap.servers={env['KAFKA_BOOTSTRAP']}")
    work = tempfile.mkdtemp(prefix="bench-manifests-")
    full = os.path.join(work, "full.yaml")
    with open(full, "w") as f:
        f.write(config(env, prefix, topic, "  mode: full\n"))
    out = subprocess.run([args.binary, "backup", "--config", full], env=process_env(env, "off"),
                         check=True, capture_output=True, text=True).stdout
    real_id = json.loads(out.strip().splitlines()[-1])["backupId"]
    s3 = boto3.client("s3", endpoint_url=env["MINIO_ENDPOINT"], region_name=env["MINIO_REGION"],
                      aws_access_key_id=env["MINIO_ACCESS_KEY"], aws_secret_access_key=env["MINIO_SECRET_KEY"])
    size = seed(s3, env["MINIO_BUCKET"], prefix, real_id, args.points, args.pad_segments)
    print(f"seeded {args.points} restore points ({size} bytes of manifest each) beside {real_id} in {prefix}")
    continuous = os.path.join(work, "continuous.yaml")
    with open(continuous, "w") as f:
        f.write(config(env, prefix, topic, "  mode: continuous\n  commitInterval: 10s\n"))
    address = f"127.0.0.1:{args.port}"
    log_path = os.path.join(work, "continuous.log")
    with open(log_path, "w") as log:
        child = subprocess.Popen([args.binary, "backup", "--config", continuous],
                                 env=process_env(env, address), stdout=subprocess.DEVNULL, stderr=log)
    took, reads, peak, cached = [], [], 0, None
    deadline = time.time() + 30 + args.iterations * 40
    try:
        while len(took) < args.iterations and time.time() < deadline:
            time.sleep(0.5)
            with open(f"/proc/{child.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            with open(log_path) as f:
                text = re.sub(r"\x1b\[[0-9;]*m", "", f.read())
                now = [int(m) for m in re.findall(r"restore point committed.*?took_ms=(\d+)", text)]
            if len(now) > len(took):
                took = now
                reads.append(metric(address, "manifests_read_total"))
                cached = metric(address, "manifests_cached_bytes")
    finally:
        child.terminate()
        child.wait(timeout=60)
    print(f"binary {args.binary}")
    print(f"iterations took_ms: {took}")
    print(f"manifests_read_total after each: {reads}")
    print(f"manifests_cached_bytes at the end: {cached}")
    print(f"peak RSS: {peak / 1024:.0f} MiB")
    if len(took) < args.iterations:
        print(f"only {len(took)} iterations; log in {log_path}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
