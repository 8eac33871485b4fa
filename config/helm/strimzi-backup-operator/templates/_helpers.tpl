{{/*
The name of the application: fixed, because the ServiceMonitor's jobLabel turns it into
job="strimzi-backup-operator", which the alerts and the dashboard select the operator by.
*/}}
{{- define "sbo.name" -}}
strimzi-backup-operator
{{- end }}

{{/*
The base of every object's name: fullnameOverride, else the release name when it contains the
chart's name, else "<release>-strimzi-backup-operator". At most 48 characters, so that the longest
suffix ("-webhook-cert") still makes a valid name.
*/}}
{{- define "sbo.fullname" -}}
{{- $name := "" }}
{{- if .Values.fullnameOverride }}
{{- $name = .Values.fullnameOverride }}
{{- else if contains (include "sbo.name" .) .Release.Name }}
{{- $name = .Release.Name }}
{{- else }}
{{- $name = printf "%s-%s" .Release.Name (include "sbo.name" .) }}
{{- end }}
{{- $name | trunc 48 | trimSuffix "-" }}
{{- end }}

{{- define "sbo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "sbo.labels" -}}
helm.sh/chart: {{ include "sbo.chart" . }}
app.kubernetes.io/name: {{ include "sbo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: strimzi-backup
{{- end }}

{{/* What the Deployment, the Services and the ServiceMonitor select the operator's pods by. */}}
{{- define "sbo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sbo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "sbo.serviceAccountName" -}}
{{- include "sbo.fullname" . }}
{{- end }}

{{- define "sbo.webhookServiceName" -}}
{{- include "sbo.fullname" . }}-webhook
{{- end }}

{{- define "sbo.webhookCertSecretName" -}}
{{- include "sbo.fullname" . }}-webhook-cert
{{- end }}

{{/* The operator's image: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "sbo.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/*
The licence Secret's name: license.existingSecret, else strimzi-backup-license (the operator's
default, created by the chart when license.key is set).
*/}}
{{- define "sbo.licenseSecretName" -}}
{{- if and .Values.license.existingSecret .Values.license.key }}
{{- fail "license: set either existingSecret or key, not both" }}
{{- end }}
{{- .Values.license.existingSecret | default "strimzi-backup-license" }}
{{- end }}

{{/*
The text of a chart file (files/…, copied from config/ by hack/helm-sync.sh); fails
naming the file when it is missing. Argument: (list $ "files/…").
*/}}
{{- define "sbo.file" -}}
{{- $root := index . 0 }}
{{- $path := index . 1 }}
{{- $text := $root.Files.Get $path }}
{{- if not $text }}
{{- fail (printf "%s is missing from the chart: run hack/helm-sync.sh" $path) }}
{{- end }}
{{- $text }}
{{- end }}

{{/*
The webhooks' namespaceSelector: webhook.namespaceSelector, else the watched namespaces by
name, else none (all namespaces).
*/}}
{{- define "sbo.webhookNamespaceSelector" -}}
{{- if .Values.webhook.namespaceSelector }}
namespaceSelector:
  {{- toYaml .Values.webhook.namespaceSelector | nindent 2 }}
{{- else if .Values.watchNamespaces }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: In
      values:
        {{- toYaml .Values.watchNamespaces | nindent 8 }}
{{- end }}
{{- end }}

{{/*
The webhooks' CA and serving certificate for webhook.certs.mode selfSigned, as YAML (ca, crt,
key: PEM). Made once per render and remembered in the root context, so the Secret, the caBundle
of both webhook configurations and the Deployment's checksum agree. On upgrade the Secret in the
cluster is reused (lookup; `helm template` sees no cluster and gets a new pair), unless it lacks a
file, names other hosts, or expires within 30 days.
*/}}
{{- define "sbo.selfSignedCerts" -}}
{{- if not (hasKey $ "sboSelfSignedCerts") }}
{{- $service := include "sbo.webhookServiceName" . }}
{{- $hosts := list (printf "%s.%s.svc" $service .Release.Namespace) (printf "%s.%s.svc.cluster.local" $service .Release.Namespace) }}
{{- $hostsText := join "," $hosts }}
{{- $days := int .Values.webhook.certs.selfSigned.validityDays }}
{{- $certs := dict }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "sbo.webhookCertSecretName" .) }}
{{- if $existing }}
{{- $data := $existing.data | default dict }}
{{- $annotations := $existing.metadata.annotations | default dict }}
{{- $notAfter := index $annotations "kafkabackup.com/webhook-cert-not-after" | default "0" | int64 }}
{{- $fresh := gt $notAfter (add (now | unixEpoch) (mul 30 86400)) }}
{{- if and $fresh (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") (eq (index $annotations "kafkabackup.com/webhook-cert-hosts" | default "") $hostsText) }}
{{- $certs = dict "ca" (index $data "ca.crt" | b64dec) "crt" (index $data "tls.crt" | b64dec) "key" (index $data "tls.key" | b64dec) "notAfter" (toString $notAfter) }}
{{- end }}
{{- end }}
{{- if not $certs }}
{{- $ca := genCAWithKey (printf "%s-webhook-ca" (include "sbo.fullname" .)) $days (genPrivateKey "ecdsa") }}
{{- $cert := genSignedCertWithKey (first $hosts) nil $hosts $days $ca (genPrivateKey "ecdsa") }}
{{- $certs = dict "ca" $ca.Cert "crt" $cert.Cert "key" $cert.Key "notAfter" (toString (add (now | unixEpoch) (mul $days 86400))) }}
{{- end }}
{{- $_ := set $certs "hosts" $hostsText }}
{{- $_ := set $ "sboSelfSignedCerts" $certs }}
{{- end }}
{{- toYaml (get $ "sboSelfSignedCerts") }}
{{- end }}
