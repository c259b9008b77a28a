// Package dns stands in for lego's DNS-provider registry, which imports every DNS provider's SDK
// (some of which the module proxy does not serve): the test plane's Traefik has no ACME DNS
// challenge.
package dns

import (
	"fmt"

	"github.com/go-acme/lego/v5/challenge"
)

// NewDNSChallengeProviderByName refuses every provider.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("unrecognized DNS provider: %s (ACME DNS challenges are left out of this build)", name)
}
