// The open-source build's (empty) dynamic configuration extension, a nested module of Traefik's
// repository that its published module zip does not carry.
module github.com/traefik/traefik/dynamic/ext

go 1.24.0
