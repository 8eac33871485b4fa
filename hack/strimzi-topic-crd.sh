#!/usr/bin/env bash
# Strimzi's real KafkaTopic CRD (043-Crd-kafkatopic.yaml) of the Strimzi line the end-to-end suite
# installs (0.51.0: `v1` and `v1beta2`), generated exactly as hack/strimzi-crds.sh generates the
# Kafka and KafkaUser CRDs (Strimzi's CrdGenerator over the release's io.strimzi:api classes, with
# the arguments of its api pom). Kept apart from those: the suite's Strimzi-version tests move the
# Kafka and KafkaUser CRDs between lines, and only the `topicCreation: strimzi` tests need this one.
#
#   hack/strimzi-topic-crd.sh     generate it when missing, print STRIMZI_TOPIC_CRD=DIR
#
# Cached in $CACHE_DIR/strimzi-topic-crd-<version>/.
# shellcheck source=strimzi-crds.sh
. "$(dirname "${BASH_SOURCE[0]}")/strimzi-crds.sh"

STRIMZI_CRD_CLASSES=(io.strimzi.api.kafka.model.topic.KafkaTopic)
STRIMZI_TOPIC_CRD=$CACHE_DIR/strimzi-topic-crd-${STRIMZI_LINE_BOTH%%:*}

mkdir -p "$CACHE_DIR"
(
  flock 9
  generate_line "${STRIMZI_LINE_BOTH%%:*}" "${STRIMZI_LINE_BOTH##*:}" "$STRIMZI_TOPIC_CRD"
) 9>"$CACHE_DIR/strimzi-topic-crd.lock"
echo "STRIMZI_TOPIC_CRD=$STRIMZI_TOPIC_CRD"
