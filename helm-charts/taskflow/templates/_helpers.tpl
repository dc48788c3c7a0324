{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "taskflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every resource name: <release>-<chart>, or the release name alone when it already
contains the chart name. Kept to 40 characters so that "<prefix>-<service>-…" suffixes stay within
Kubernetes' 63-character limit.
*/}}
{{- define "taskflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Labels shared by every resource.
*/}}
{{- define "taskflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "taskflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: taskflow
{{- end }}

{{/*
Selector labels of one service; call with (dict "root" $ "service" "backend-api").
*/}}
{{- define "taskflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskflow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end }}

{{/*
The image reference.
*/}}
{{- define "taskflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "taskflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "taskflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret holding DATABASE_URL, JWT_SECRET and SMTP_URL: the operator's, or the chart's.
*/}}
{{- define "taskflow.secretName" -}}
{{- default (include "taskflow.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/*
Secrets holding the Dapr tokens under the key `token` (the key daprd reads).
*/}}
{{- define "taskflow.appTokenSecretName" -}}
{{- default (printf "%s-app-api-token" (include "taskflow.fullname" .)) .Values.dapr.appToken.existingSecret }}
{{- end }}

{{- define "taskflow.apiTokenSecretName" -}}
{{- default (printf "%s-dapr-api-token" (include "taskflow.fullname" .)) .Values.dapr.apiToken.existingSecret }}
{{- end }}

{{/*
A base64 Secret value: the given one, else the value already stored in the cluster under that key
(so generated secrets survive upgrades), else a new random one. Call with
(dict "root" $ "secret" NAME "key" KEY "value" VALUE "length" N).
Rendered offline (helm template, CI), lookup finds nothing and a random value is generated.
*/}}
{{- define "taskflow.secretValue" -}}
{{- if .value }}
{{- .value | b64enc }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret }}
{{- if and $existing $existing.data (hasKey $existing.data .key) }}
{{- index $existing.data .key }}
{{- else }}
{{- randAlphaNum (int .length) | b64enc }}
{{- end }}
{{- end }}
{{- end }}

{{/*
"app1=t1,t2;app2=" from a map of app id → topic list (Dapr's publishingScopes/subscriptionScopes).
*/}}
{{- define "taskflow.topicScopes" -}}
{{- $parts := list }}
{{- range $app, $topics := . }}
{{- $parts = append $parts (printf "%s=%s" $app (join "," $topics)) }}
{{- end }}
{{- join ";" $parts }}
{{- end }}

{{/*
Every topic named in a map of app id → topics, deduplicated, in a stable order (allowedTopics).
*/}}
{{- define "taskflow.allTopics" -}}
{{- $all := list }}
{{- range $app, $topics := . }}
{{- $all = concat $all $topics }}
{{- end }}
{{- $all | uniq | sortAlpha | join "," }}
{{- end }}
