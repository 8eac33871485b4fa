# The one image of the product: operator, webhooks and data plane (`strimzi-backup-operator`).
# Built on Red Hat UBI 9 so it certifies for OpenShift; runs as an arbitrary non-root UID
# (restricted-v2) with a read-only root filesystem.

FROM registry.access.redhat.com/ubi9/ubi:9.6 AS build
RUN dnf install -y --setopt=install_weak_deps=False gcc gcc-c++ make cmake perl openssl-devel zlib-devel \
    && dnf clean all
ARG RUST_VERSION=1.95.0
ENV RUSTUP_HOME=/opt/rustup CARGO_HOME=/opt/cargo PATH=/opt/cargo/bin:$PATH
RUN curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain ${RUST_VERSION}
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p strimzi-backup-operator \
    && install -m 0755 target/release/strimzi-backup-operator /strimzi-backup-operator

FROM registry.access.redhat.com/ubi9/ubi-minimal:9.6
ARG VERSION=0.1.0
LABEL name="strimzi-backup-operator" \
      vendor="strimzi-backup" \
      version="${VERSION}" \
      summary="Backs up and restores Apache Kafka on Kubernetes" \
      description="Kubernetes operator that backs up Kafka topics and consumer-group offsets to object storage and restores them." \
      io.k8s.display-name="Strimzi Backup Operator" \
      io.openshift.tags="kafka,strimzi,backup,restore"
RUN microdnf install -y --setopt=install_weak_deps=0 openssl-libs zlib ca-certificates \
    && microdnf clean all
COPY --from=build /strimzi-backup-operator /usr/local/bin/strimzi-backup-operator
COPY LICENSE /licenses/LICENSE
USER 1001
ENTRYPOINT ["/usr/local/bin/strimzi-backup-operator"]
