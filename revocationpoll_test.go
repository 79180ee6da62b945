package soloauth

import (
	"strings"
	"testing"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestRevocationPollOption: revocation_poll is a sub-directive of the
// global option, handed to every handler; in a directive, too short or
// malformed, it is a config error that names it.
func TestRevocationPollOption(t *testing.T) {
	cfg, err := adapt(t, `{
	solo_auth {
		secret `+tu.SecretA+`
		revocation_poll 2s
	}
}
:80 {
	solo_auth /a/*
	solo_auth /b/* admin
}`)
	if err != nil {
		t.Fatal(err)
	}
	hs := handlers(t, cfg)
	if len(hs) != 2 {
		t.Fatalf("%d handlers", len(hs))
	}
	for _, h := range hs {
		if h["revocation_poll"] != float64(2e9) {
			t.Errorf("handler %v: revocation_poll not 2s", h)
		}
	}
	for name, input := range map[string]string{
		"in a directive": `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		revocation_poll 2s
	}
}`,
		"too short": `{
	solo_auth {
		secret ` + tu.SecretA + `
		revocation_poll 50ms
	}
}
:80 {
	solo_auth
}`,
		"malformed": `{
	solo_auth {
		secret ` + tu.SecretA + `
		revocation_poll often
	}
}
:80 {
	solo_auth
}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := adapt(t, input)
			if err == nil || !strings.Contains(err.Error(), "revocation_poll") {
				t.Errorf("error %v, want one naming revocation_poll", err)
			}
		})
	}
}
