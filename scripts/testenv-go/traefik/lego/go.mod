// The packages of github.com/go-acme/lego/v5 v5.4.1 that Traefik imports, copied unchanged (LICENSE:
// MIT), except providers/dns: a stub without the DNS providers. The versions are lego's own.
module github.com/go-acme/lego/v5

go 1.26.0

require (
	github.com/cenkalti/backoff/v5 v5.0.3
	github.com/go-jose/go-jose/v4 v4.1.4
	github.com/miekg/dns v1.1.73
	golang.org/x/crypto v0.55.0
	golang.org/x/net v0.58.0
	software.sslmate.com/src/go-pkcs12 v0.7.3
)

require (
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)
