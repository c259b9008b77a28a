{{/*
Helpers. tests/chart renders, lints and (in the e2e suite) installs the chart with helm.
*/}}

{{/* Name of every object: the chart name, or fullnameOverride. */}}
{{- define "oda-api-operator.fullname" -}}
{{- .Values.fullnameOverride | default .Chart.Name }}
{{- end }}

{{/* Labels selecting the operator's pods. */}}
{{- define "oda-api-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "oda-api-operator.labels" -}}
{{ include "oda-api-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{/*
The namespace the gateway policy objects go to: GATEWAY_NAMESPACE, or with ROUTE_BACKEND=HTTPRoute
the namespace of the Gateway `<namespace>/<name>`.
*/}}
{{- define "oda-api-operator.gatewayNamespace" -}}
{{- $gateway := .Values.config.componentGateway -}}
{{- if and (eq .Values.config.routeBackend "HTTPRoute") (contains "/" $gateway) -}}
{{- first (splitList "/" $gateway) -}}
{{- else -}}
{{- .Values.config.gatewayNamespace -}}
{{- end -}}
{{- end }}
