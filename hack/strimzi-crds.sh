#!/usr/bin/env bash
# shellcheck disable=SC2034
# (SC2034: the STRIMZI_CRDS_* paths are read by the scripts that source this file.)
# Strimzi's real Kafka and KafkaUser CRDs, as each Strimzi line serves them, generated the way
# Strimzi generates them: its CrdGenerator run over the io.strimzi:api classes of that release
# (both from Maven Central), with the arguments of the release's own api pom (the exec-maven-plugin
# executions `generate-crd-co-install-v1*`, which write packaging/install/cluster-operator/).
# The result is byte-identical to the release's 040-Crd-kafka.yaml and 044-Crd-kafkauser.yaml.
#
#   hack/strimzi-crds.sh          generate what is missing, print KEY=DIR for each line
#   . hack/strimzi-crds.sh        only define STRIMZI_CRDS_{V1BETA2_ONLY,BOTH,V1_ONLY} and build_strimzi_crds
#
# Cached in $CACHE_DIR/strimzi-crds-<version>/ (the two CRD files only; a rerun is instant).
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The three lines, by what they serve of kafka.strimzi.io: API version : crd-generator version.
# crd-generator is published only for some releases (… 0.40.0, 0.43.0, 0.45.0, 1.2.0); a release
# without one uses the nearest that reproduces the release's files: 1.2.0 for 0.51.0 (0.45.0 drops
# 0.51's per-version annotations: no `deprecated`, v1-only fields in v1beta2). 1.2.0 needs Java 21+.
STRIMZI_LINE_V1BETA2_ONLY=0.45.0:0.45.0 # 0.40-0.48: v1beta2 only
STRIMZI_LINE_BOTH=0.51.0:1.2.0          # 0.49-0.5x: v1beta2 (storage) and v1
STRIMZI_LINE_V1_ONLY=1.2.0:1.2.0        # 1.x: v1 only

STRIMZI_CRDS_V1BETA2_ONLY=$CACHE_DIR/strimzi-crds-${STRIMZI_LINE_V1BETA2_ONLY%%:*}
STRIMZI_CRDS_BOTH=$CACHE_DIR/strimzi-crds-${STRIMZI_LINE_BOTH%%:*}
STRIMZI_CRDS_V1_ONLY=$CACHE_DIR/strimzi-crds-${STRIMZI_LINE_V1_ONLY%%:*}

# The kinds generated (the two the operator reads), by their Java class.
STRIMZI_CRD_CLASSES=(io.strimzi.api.kafka.model.kafka.Kafka io.strimzi.api.kafka.model.user.KafkaUser)

# The Maven project whose runtime classpath is the api classes and the generator (api first, so
# its Kubernetes model wins: it is what those classes were compiled against).
strimzi_pom() {
  cat <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.strimzi-backup</groupId>
  <artifactId>strimzi-crd-generator</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$1</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>$2</version></dependency>
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version>
    <executions>
      <execution><id>copy</id><phase>package</phase><goals><goal>copy-dependencies</goal></goals>
        <configuration><outputDirectory>\${project.basedir}/libs</outputDirectory><includeScope>runtime</includeScope></configuration>
      </execution>
      <execution><id>api-pom</id><phase>package</phase><goals><goal>copy</goal></goals>
        <configuration><outputDirectory>\${project.basedir}</outputDirectory><artifactItems><artifactItem>
          <groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$1</version><type>pom</type>
        </artifactItem></artifactItems></configuration>
      </execution>
    </executions>
  </plugin></plugins></build>
</project>
POM
}

# The CrdGenerator executions of an api pom: for each `generate-crd-co-install-v1*` execution, a
# line "EXECUTION <id>", then one line per <argument>.
pom_executions() {
  awk '
    /<execution>/ { id = ""; n = 0 }
    /<id>/ { if (id == "") { s = $0; sub(/.*<id>/, "", s); sub(/<\/id>.*/, "", s); id = s } }
    {
      s = $0
      while (match(s, /<argument>[^<]*<\/argument>/)) {
        args[++n] = substr(s, RSTART + 10, RLENGTH - 21)
        s = substr(s, RSTART + RLENGTH)
      }
    }
    /<\/execution>/ {
      if (id ~ /^generate-crd-co-install-v1/) { print "EXECUTION " id; for (i = 1; i <= n; i++) print args[i] }
      n = 0
    }
  ' "$1"
}

# The Java major version a class file needs (its major class version less 44).
class_java() {
  local bytes
  bytes=$(unzip -p "$1" "$2" | head -c 8 | od -An -tu1) || return 1
  read -r _ _ _ _ _ _ hi lo <<<"$bytes"
  echo $(((hi * 256 + lo) - 44))
}

# A java of major version >= $1: $JAVA_HOME's, the one on PATH, or one under /usr/lib/jvm.
java_at_least() {
  local want=$1 java major
  for java in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [[ -x $java ]] || continue
    major=$("$java" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ { print $2 }')
    if [[ ${major%%.*} -ge $want ]]; then
      echo "$java"
      return
    fi
  done
  die "Strimzi's CRD generator needs Java $want or newer (set JAVA_HOME; none found on PATH or in /usr/lib/jvm)"
}

# Generates the CRDs of io.strimzi:api $1 with crd-generator $2 into $3 (once).
generate_line() {
  local api=$1 gen=$2 dir=$3 stamp="api $1, crd-generator $2"
  if [[ -f $dir/.generated && $(<"$dir/.generated") == "$stamp" ]]; then return; fi
  log "generating Strimzi $api's Kafka and KafkaUser CRDs (crd-generator $gen, Maven Central)"
  local tmp java need need_api line id="" kept=() opts=() in_yaml=false cls file wanted made=0
  tmp=$(stage_dir "$dir.build")
  strimzi_pom "$api" "$gen" >"$tmp/pom.xml"
  run_logged "mvn copy-dependencies (strimzi $api)" "$tmp/build.log" mvn -B -q -f "$tmp/pom.xml" package
  need=$(class_java "$tmp/libs/crd-generator-$gen.jar" io/strimzi/crdgenerator/CrdGenerator.class)
  need_api=$(class_java "$tmp/libs/api-$api.jar" io/strimzi/api/kafka/model/kafka/Kafka.class)
  ((need_api > need)) && need=$need_api
  java=$(java_at_least "$need")
  mkdir -p "$tmp/crds"
  # Each execution: its arguments up to --yaml as they are, after it only the kinds wanted,
  # written under the file name the pom gives (the part after the last path separator).
  run_execution() {
    [[ -n $id && ${#kept[@]} -gt 0 ]] || return 0
    run_logged "CrdGenerator $id (strimzi $api)" "$tmp/build.log" \
      "$java" -cp "$tmp/libs/*" io.strimzi.crdgenerator.CrdGenerator "${opts[@]}" --yaml "${kept[@]}"
    made=$((made + ${#kept[@]}))
  }
  while IFS= read -r line; do
    if [[ $line == "EXECUTION "* ]]; then
      run_execution
      id=${line#EXECUTION } kept=() opts=() in_yaml=false
      continue
    fi
    # shellcheck disable=SC2016 # '${project.basedir}' is matched literally
    case $line in
      -classpath | io.strimzi.crdgenerator.CrdGenerator) continue ;;
      '${project.basedir}'*) continue ;; # the classpath's value (a literal Maven placeholder)
      --yaml) in_yaml=true; continue ;;
    esac
    if ! $in_yaml; then
      opts+=("$line")
      continue
    fi
    cls=${line%%=*} file=${line##*\}}
    for wanted in "${STRIMZI_CRD_CLASSES[@]}"; do
      [[ $cls == "$wanted" ]] && kept+=("$cls=$tmp/crds/$file")
    done
  done < <(pom_executions "$tmp/api-$api.pom")
  run_execution
  [[ $made -eq ${#STRIMZI_CRD_CLASSES[@]} ]] ||
    die "api-$api.pom generated $made of the ${#STRIMZI_CRD_CLASSES[@]} CRDs wanted (${STRIMZI_CRD_CLASSES[*]}); log: $tmp/build.log"
  local out
  out=$(stage_dir "$dir")
  mv "$tmp/crds/"*.yaml "$out/"
  echo "$stamp" >"$out/.generated"
  publish_dir "$dir"
  rm -rf "$tmp"
}

# A directory of files fetched with a tool is filled in $1.tmp and then put in place whole, so an
# interrupted run never leaves half of it behind (as in hack/tools.sh).
stage_dir() { rm -rf "$1.tmp" && mkdir -p "$1.tmp" && echo "$1.tmp"; }
publish_dir() { rm -rf "$1" && mv "$1.tmp" "$1"; }

# All three lines; one generation at a time (test binaries may ask at once).
build_strimzi_crds() {
  mkdir -p "$CACHE_DIR"
  (
    flock 9
    generate_line "${STRIMZI_LINE_V1BETA2_ONLY%%:*}" "${STRIMZI_LINE_V1BETA2_ONLY##*:}" "$STRIMZI_CRDS_V1BETA2_ONLY"
    generate_line "${STRIMZI_LINE_BOTH%%:*}" "${STRIMZI_LINE_BOTH##*:}" "$STRIMZI_CRDS_BOTH"
    generate_line "${STRIMZI_LINE_V1_ONLY%%:*}" "${STRIMZI_LINE_V1_ONLY##*:}" "$STRIMZI_CRDS_V1_ONLY"
  ) 9>"$CACHE_DIR/strimzi-crds.lock"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  build_strimzi_crds
  echo "STRIMZI_CRDS_V1BETA2_ONLY=$STRIMZI_CRDS_V1BETA2_ONLY"
  echo "STRIMZI_CRDS_BOTH=$STRIMZI_CRDS_BOTH"
  echo "STRIMZI_CRDS_V1_ONLY=$STRIMZI_CRDS_V1_ONLY"
fi
