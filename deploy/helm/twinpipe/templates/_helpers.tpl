{{/*
Names, labels and the pieces every workload shares. A workload is rendered by
"twinpipe.podSpec" from a context dict:
  root       the chart's root context ($)
  component  ingest | projector | fleet-projector | query | registry | rollup | policy |
             forward | migrate | replay
  program    the binary (tp-ingest, ...)
  config     the TP_* configuration as a dict of config keys (journal.topic: ...)
  values     the component's values (resources, port, ...)
*/}}

{{- define "twinpipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "twinpipe.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "twinpipe.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "twinpipe.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* labels: (dict "root" $ "component" "ingest") */}}
{{- define "twinpipe.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: twinpipe
{{ include "twinpipe.selectorLabels" . }}
{{- end }}

{{- define "twinpipe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "twinpipe.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "twinpipe.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "twinpipe.secretName" -}}
{{- if .Values.secrets.create }}{{ include "twinpipe.fullname" . }}-secrets{{ else }}{{ required "secrets.existingSecret: name the Secret with the services' credentials (or secrets.create=true)" .Values.secrets.existingSecret }}{{ end }}
{{- end }}

{{/* A value as an environment string: integers that YAML made floats stay integers. */}}
{{- define "twinpipe.scalar" -}}
{{- if kindIs "float64" . }}{{ if eq . (floor .) }}{{ . | int64 }}{{ else }}{{ . }}{{ end }}{{ else }}{{ . }}{{ end }}
{{- end }}

{{/* The environment variable of a config key: journal.topic -> TP_JOURNAL_TOPIC */}}
{{- define "twinpipe.envName" -}}
TP_{{ . | upper | replace "." "_" | replace "-" "_" }}
{{- end }}

{{/* Config keys every Kafka client gets: bootstrap, journal, librdkafka properties */}}
{{- define "twinpipe.kafkaConfig" -}}
{{- $c := dict "kafka.bootstrap.servers" .Values.kafka.bootstrapServers "journal.topic" .Values.journal.topic "journal.partitions" .Values.journal.partitions "journal.replication" .Values.journal.replication }}
{{- range $k, $v := .Values.kafka.properties }}
{{- $_ := set $c (printf "kafka.%s" $k) $v }}
{{- end }}
{{- toYaml $c }}
{{- end }}

{{- define "twinpipe.pgDsn" -}}
{{- $p := .Values.postgresql -}}
host={{ $p.host }} port={{ include "twinpipe.scalar" $p.port }} dbname={{ $p.database }} user={{ $p.user }}{{ if $p.sslmode }} sslmode={{ $p.sslmode }}{{ end }}
{{- end }}

{{/* The registry the clients ask: registry.url, else the release's own, else none
(registry.enabled=false: the services accept only their built-in schema). */}}
{{- define "twinpipe.registryUrl" -}}
{{- if .Values.registry.url }}{{ .Values.registry.url }}{{ else if .Values.registry.enabled }}http://{{ include "twinpipe.fullname" . }}-registry:{{ include "twinpipe.scalar" .Values.registry.port }}{{ end }}
{{- end }}

{{/* registry.url into a client's config dict: (dict "c" $config "root" $) */}}
{{- define "twinpipe.setRegistry" -}}
{{- with include "twinpipe.registryUrl" .root }}
{{- $_ := set $.c "registry.url" . }}
{{- end }}
{{- end }}

{{/* site.region into a config dict, when set: (dict "c" $config "root" $) */}}
{{- define "twinpipe.setRegion" -}}
{{- with .root.Values.site.region }}
{{- $_ := set $.c "site.region" . }}
{{- end }}
{{- end }}

{{/* env entries for PostgreSQL: TP_PG_DSN (literal or from a Secret) and PGPASSWORD */}}
{{- define "twinpipe.pgEnv" -}}
{{- $p := .Values.postgresql }}
{{- if $p.dsnSecret.name }}
- name: TP_PG_DSN
  valueFrom:
    secretKeyRef:
      name: {{ $p.dsnSecret.name }}
      key: {{ $p.dsnSecret.key }}
{{- else }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "postgresql.passwordSecret.name" $p.passwordSecret.name }}
      key: {{ $p.passwordSecret.key }}
{{- end }}
{{- end }}

{{/* env entries for a registry client's read credential */}}
{{- define "twinpipe.registryClientEnv" -}}
{{- if include "twinpipe.registryUrl" . }}
- name: TP_REGISTRY_USER
  valueFrom:
    secretKeyRef:
      name: {{ include "twinpipe.secretName" . }}
      key: registry-user
- name: TP_REGISTRY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "twinpipe.secretName" . }}
      key: registry-password
{{- end }}
{{- end }}

{{/* env entries for librdkafka properties from Secrets */}}
{{- define "twinpipe.kafkaSecretEnv" -}}
{{- range .Values.kafka.secretProperties }}
- name: {{ include "twinpipe.envName" (printf "kafka.%s" .property) }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key }}
{{- end }}
{{- end }}

{{/*
The container's env: the config dict (sorted, each key once: the component's
config: map wins over the chart's settings) as TP_* literals, then .secretEnv.
*/}}
{{- define "twinpipe.env" -}}
{{- range $k, $v := .config }}
- name: {{ include "twinpipe.envName" $k }}
  value: {{ include "twinpipe.scalar" $v | quote }}
{{- end }}
{{- range splitList "\n" (.secretEnv | default "") }}
{{- if trim . }}
{{ . }}
{{- end }}
{{- end }}
{{- end }}

{{- define "twinpipe.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{/*
The pod spec of a service or job. Context dict: root, component, program, config,
secretEnv (rendered env entries), values, http (bool: a long-running HTTP service),
volumes / mounts (rendered lists, optional), extraPorts (rendered container ports beside
http and metrics, optional), restartPolicy (jobs).
*/}}
{{- define "twinpipe.podSpec" -}}
{{- $root := .root }}
{{- $v := .values }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- if .restartPolicy }}
restartPolicy: {{ .restartPolicy }}
{{- else }}
terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
{{- end }}
enableServiceLinks: false
containers:
  - name: {{ .component }}
    image: {{ include "twinpipe.image" $root }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    command: [{{ .program | quote }}]
    securityContext:
      {{- toYaml $root.Values.securityContext | nindent 6 }}
    env:
      {{- include "twinpipe.env" . | trim | nindent 6 }}
    {{- if .http }}
    ports:
      - name: http
        containerPort: {{ $v.port }}
        protocol: TCP
      - name: metrics
        containerPort: {{ $root.Values.metricsPort }}
        protocol: TCP
      {{- with .extraPorts }}
      {{- . | nindent 6 }}
      {{- end }}
    startupProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 2
      failureThreshold: 60
    livenessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 10
      timeoutSeconds: 3
      failureThreshold: 3
    readinessProbe:
      httpGet: {path: {{ .readyPath | default "/readyz" }}, port: http}
      periodSeconds: 5
      timeoutSeconds: 3
      failureThreshold: 2
    lifecycle:
      preStop:
        sleep:
          seconds: {{ $root.Values.preStopSleepSeconds }}
    {{- end }}
    resources:
      {{- toYaml $v.resources | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      {{- with .mounts }}
      {{- . | nindent 6 }}
      {{- end }}
      {{- with $root.Values.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  {{- include "twinpipe.tmpVolume" $root | nindent 2 }}
  {{- with .volumes }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- with $root.Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if and .http $root.Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- range $root.Values.topologySpreadConstraints }}
  - {{ toYaml (merge (dict "labelSelector" (dict "matchLabels" (fromYaml (include "twinpipe.selectorLabels" $)))) .) | nindent 4 | trim }}
  {{- end }}
{{- end }}
{{- end }}

{{/* A long-running service: Deployment. Same context dict as twinpipe.podSpec, plus strategy. */}}
{{- define "twinpipe.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "twinpipe.fullname" .root }}-{{ .component }}
  labels:
    {{- include "twinpipe.labels" . | nindent 4 }}
spec:
  {{- if not (and .values.autoscaling .values.autoscaling.enabled) }}
  replicas: {{ .values.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- with .strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "twinpipe.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "twinpipe.labels" . | nindent 8 }}
      {{- with .root.Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- include "twinpipe.podSpec" . | trim | nindent 6 }}
{{- end }}

{{/* The Service of a component: its http port (when public), its metrics port and
.servicePorts (rendered, optional). */}}
{{- define "twinpipe.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "twinpipe.fullname" .root }}-{{ .component }}
  labels:
    {{- include "twinpipe.labels" . | nindent 4 }}
    twinpipe.io/metrics: "true"
spec:
  type: {{ if .values.service }}{{ .values.service.type }}{{ else }}ClusterIP{{ end }}
  selector:
    {{- include "twinpipe.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .values.port }}
      targetPort: http
      protocol: TCP
    - name: metrics
      port: {{ .root.Values.metricsPort }}
      targetPort: metrics
      protocol: TCP
    {{- with .servicePorts }}
    {{- . | nindent 4 }}
    {{- end }}
{{- end }}

{{- define "twinpipe.pdb" -}}
{{- if .values.pdb }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "twinpipe.fullname" .root }}-{{ .component }}
  labels:
    {{- include "twinpipe.labels" . | nindent 4 }}
spec:
  {{- toYaml .values.pdb | nindent 2 }}
  # a pod that is not ready (a projector replica without a partition, a service that
  # lost its broker) never blocks a node drain
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "twinpipe.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{- define "twinpipe.hpa" -}}
{{- $a := .values.autoscaling }}
{{- if $a.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "twinpipe.fullname" .root }}-{{ .component }}
  labels:
    {{- include "twinpipe.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "twinpipe.fullname" .root }}-{{ .component }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
    {{- if and $a.queueDepth $a.queueDepth.enabled }}
    - type: Pods
      pods:
        metric:
          name: tp_ingest_producer_queue_depth
        target:
          type: AverageValue
          averageValue: {{ $a.queueDepth.averageValue | quote }}
    {{- end }}
{{- end }}
{{- end }}
