# The one image of the product: operator, admission webhooks and data plane, one binary
# (`strimzi-backup-operator`; its Jobs run the same image with a data-plane subcommand).
#
# Runtime base: Red Hat UBI 9 minimal rather than distroless. Red Hat certification for
# OpenShift/OperatorHub requires a UBI base; UBI minimal carries the OpenSSL 3 and zlib that
# librdkafka links against (TLS and SCRAM to Kafka) and gets CVE fixes from Red Hat. The build
# stage is UBI 9 too, so the binary links against the same glibc and OpenSSL it runs with.
#
# Runs as the numeric non-root USER 1001, and as any arbitrary UID OpenShift's restricted-v2 SCC
# assigns (group 0, nothing in the image needs to be writable; the root filesystem may be
# read-only). No HEALTHCHECK: Kubernetes probes /healthz and /readyz on the metrics port.
#
#   make docker-build IMG=quay.io/strimzi-backup/strimzi-backup-operator:0.1.0

FROM registry.access.redhat.com/ubi9/ubi:9.6 AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Build dependencies of librdkafka (cmake build against the system OpenSSL and zlib). The UBI
# repositories carry one maintained version of each; the base image tag pins the set.
# hadolint ignore=DL3041
RUN dnf install -y --setopt=install_weak_deps=False --nodocs \
        gcc gcc-c++ make cmake perl openssl-devel zlib-devel \
    && dnf clean all
ARG RUST_VERSION=1.95.0
ENV RUSTUP_HOME=/opt/rustup CARGO_HOME=/opt/cargo PATH=/opt/cargo/bin:$PATH
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
      | sh -s -- -y --profile minimal --default-toolchain "${RUST_VERSION}"
WORKDIR /src
COPY . .
# The `dist` profile: fat LTO, one codegen unit, symbols stripped. Only the operator package is
# built, so the test-only licence key (feature test-license) is never trusted by the image.
RUN cargo build --locked --profile dist -p strimzi-backup-operator \
    && install -D -m 0755 target/dist/strimzi-backup-operator /out/strimzi-backup-operator

FROM registry.access.redhat.com/ubi9/ubi-minimal:9.6
ARG VERSION=0.1.0
ARG RELEASE=1
ARG REVISION=unknown
LABEL name="strimzi-backup/strimzi-backup-operator" \
      vendor="strimzi-backup" \
      maintainer="strimzi-backup maintainers <maintainers@kafkabackup.com>" \
      version="${VERSION}" \
      release="${RELEASE}" \
      summary="Backs up and restores Apache Kafka on Kubernetes" \
      description="Kubernetes operator that backs up Kafka topics, records and consumer-group offsets to object storage, restores them to a point in time, renamed or into another cluster, and resets consumer-group offsets." \
      url="https://github.com/strimzi-backup/strimzi-backup-operator" \
      io.k8s.display-name="Strimzi Backup Operator" \
      io.k8s.description="Backs up and restores Apache Kafka (Strimzi) to object storage." \
      io.openshift.tags="kafka,strimzi,backup,restore,operator" \
      org.opencontainers.image.title="strimzi-backup-operator" \
      org.opencontainers.image.description="Backs up and restores Apache Kafka on Kubernetes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.vendor="strimzi-backup" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/strimzi-backup/strimzi-backup-operator" \
      org.opencontainers.image.url="https://github.com/strimzi-backup/strimzi-backup-operator"
# Runtime libraries of the binary; versions come with the pinned base image.
# hadolint ignore=DL3041
RUN microdnf install -y --setopt=install_weak_deps=0 --nodocs openssl-libs zlib ca-certificates \
    && microdnf clean all
COPY LICENSE /licenses/LICENSE
COPY --from=build /out/strimzi-backup-operator /usr/local/bin/strimzi-backup-operator
USER 1001
ENTRYPOINT ["/usr/local/bin/strimzi-backup-operator"]
CMD ["operator"]
