//go:build tools

// The commands built from this module, listed so that `go mod tidy` keeps their dependencies.
// scripts/testenv builds cmd/prometheus with the tags `remove_all_sd,enable_kubernetes_sd`
// (Prometheus' plugins/ files), so that Kubernetes is the only service discovery compiled in.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
)
