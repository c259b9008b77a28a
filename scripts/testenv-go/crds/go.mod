// The third-party CRDs the test plane installs, read from these modules' own files (no code is
// built from them, so this module is never tidied: `go mod download` records their checksums).
module oda-testenv/crds

go 1.26.0

require (
	github.com/envoyproxy/gateway v1.9.1
	github.com/prometheus-operator/prometheus-operator v0.85.0
	istio.io/api v1.32.0
	sigs.k8s.io/gateway-api v1.6.3
)
