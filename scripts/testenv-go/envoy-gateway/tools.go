//go:build tools

// The commands built from this module, listed so that `go mod tidy` keeps their dependencies.
package tools

import (
	_ "github.com/envoyproxy/gateway/cmd/envoy-gateway"
)
