//! A Kafka broker of a test's own: a second real single-node KRaft cluster, started from the
//! environment's Kafka distribution on free ports, for what must not happen to the shared broker
//! — stopping it (SIGSTOP) in the middle of a backup — or needs another cluster (another cluster
//! id backing up to the same location). Stopped and deleted when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::env::TestEnv;
use crate::fixtures::unique_suffix;

pub struct PrivateBroker {
    child: Child,
    dir: PathBuf,
    /// The environment with this broker as its Kafka: every data-plane helper works with it.
    pub env: TestEnv,
    /// The cluster id it was formatted with.
    pub cluster_id: String,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PrivateBroker {
    /// Formats and starts a broker and waits until it answers a metadata request (~10 s).
    pub fn start(env: &TestEnv) -> anyhow::Result<Self> {
        Self::start_with(env, &[])
    }

    /// [`Self::start`] with more broker settings (`server.properties` lines).
    pub fn start_with(env: &TestEnv, settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        let kafka_home = env.get("KAFKA_HOME")?;
        let (port, controller) = (free_port()?, free_port()?);
        let dir = std::env::temp_dir().join(format!("sbo-broker-{}", unique_suffix()));
        std::fs::create_dir_all(dir.join("data"))?;
        let props = dir.join("server.properties");
        std::fs::write(
            &props,
            format!(
                "process.roles=broker,controller\nnode.id=1\n\
                 controller.quorum.voters=1@127.0.0.1:{controller}\n\
                 listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
                 controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
                 log.dirs={}\nnum.partitions=1\nauto.create.topics.enable=false\n\
                 offsets.topic.replication.factor=1\noffsets.topic.num.partitions=3\n\
                 transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
                 share.coordinator.state.topic.replication.factor=1\nshare.coordinator.state.topic.min.isr=1\n\
                 group.initial.rebalance.delay.ms=0\nlog.segment.bytes=16777216\n{}",
                dir.join("data").display(),
                settings.iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>()
            ),
        )?;
        let log4j = dir.join("log4j2.yaml");
        std::fs::write(
            &log4j,
            "Configuration:\n  Appenders:\n    Console: {name: STDOUT, PatternLayout: {pattern: \"[%d] %p %m (%c)%n\"}}\n  Loggers:\n    Root: {level: WARN, AppenderRef: [{ref: STDOUT}]}\n",
        )?;
        let java = |heap: &str| {
            let mut c = Command::new("java");
            c.arg(heap)
                .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
                .arg("-cp")
                .arg(format!("{kafka_home}/libs/*"));
            c
        };
        let cluster_id = uuid_base64()?;
        let format = java("-Xmx256m")
            .args(["kafka.tools.StorageTool", "format", "-t", &cluster_id, "-c"])
            .arg(&props)
            .output()
            .context("running Kafka's StorageTool")?;
        anyhow::ensure!(
            format.status.success(),
            "formatting the private broker's storage: {}",
            String::from_utf8_lossy(&format.stderr)
        );
        let log = std::fs::File::create(dir.join("kafka.log"))?;
        let child = java("-Xmx512m")
            .arg("kafka.Kafka")
            .arg(&props)
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .context("starting the private broker")?;
        let bootstrap = format!("127.0.0.1:{port}");
        let broker = Self { child, env: env.with_kafka(&bootstrap), dir, cluster_id };
        broker.wait_ready(Duration::from_secs(90))?;
        Ok(broker)
    }

    fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let consumer: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", self.env.kafka_bootstrap()).create()?;
        let deadline = Instant::now() + timeout;
        loop {
            match consumer.fetch_metadata(None, Duration::from_secs(5)) {
                Ok(m) if !m.brokers().is_empty() => return Ok(()),
                _ if Instant::now() > deadline => anyhow::bail!(
                    "the private broker did not answer within {}s; its log: {}",
                    timeout.as_secs(),
                    crate::fixtures::last_lines(
                        &std::fs::read_to_string(self.dir.join("kafka.log")).unwrap_or_default(),
                        20
                    )
                ),
                _ => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    fn signal(&self, signal: libc::c_int) -> anyhow::Result<()> {
        let pid = libc::pid_t::try_from(self.child.id())?;
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(pid, signal) };
        anyhow::ensure!(rc == 0, "kill({pid}, {signal}): {}", std::io::Error::last_os_error());
        Ok(())
    }

    /// Freezes the broker (SIGSTOP): connections stay open and nothing answers, as with a broker
    /// in a long GC pause or a hung host.
    pub fn freeze(&self) -> anyhow::Result<()> {
        self.signal(libc::SIGSTOP)
    }

    /// Lets a frozen broker go on (SIGCONT).
    pub fn thaw(&self) -> anyhow::Result<()> {
        self.signal(libc::SIGCONT)
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.thaw();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A random Kafka cluster id: 16 random bytes, URL-safe base64 without padding (what
/// `kafka-storage.sh random-uuid` prints). Like Kafka's own, never one that starts with `-`,
/// which the storage tool would take for an option.
fn uuid_base64() -> anyhow::Result<String> {
    use base64::Engine;
    loop {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random bytes: {e}"))?;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if !id.starts_with('-') {
            return Ok(id);
        }
    }
}
