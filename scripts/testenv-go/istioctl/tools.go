//go:build tools

// The commands built from this module, listed so that `go mod tidy` keeps their dependencies.
package tools

import (
	_ "istio.io/istio/istioctl/cmd/istioctl"
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)
