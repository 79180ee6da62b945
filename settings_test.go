package soloauth

import (
	"strings"
	"testing"
)

// TestCheckJWKSURLRedacts: a config error about a JWKS URL never shows a
// credential in it.
func TestCheckJWKSURLRedacts(t *testing.T) {
	for _, raw := range []string{
		"ftp://user:hunter2-pw@idp.example/jwks",
		"idp.example/jwks?token=hunter2-pw",
		"https://user:hunter2-pw@/jwks",
		"http://user:hunter2-pw@idp.example:port/jwks",
	} {
		err := checkJWKSURL(raw)
		if err == nil {
			t.Errorf("%s: accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2-pw") {
			t.Errorf("error shows the credential: %v", err)
		}
	}
}
