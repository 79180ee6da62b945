package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// adminCall sends a request to Caddy's admin endpoint.
func (p *caddyProc) adminCall(t testing.TB, method, path, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, p.Admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(t, req)
}

// revocation is an entry as the admin API shows it.
type revocation struct {
	ID          string    `json:"id"`
	Sub         string    `json:"sub"`
	TokenSHA256 string    `json:"token_sha256"`
	SID         string    `json:"sid"`
	JTI         string    `json:"jti"`
	Created     time.Time `json:"created"`
	Until       time.Time `json:"until"`
}

// revoke POSTs a revocation and returns the entry of the 201.
func (p *caddyProc) revoke(t testing.TB, body string) revocation {
	t.Helper()
	r := p.adminCall(t, http.MethodPost, "/solo_auth/revocations", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", body, r.Status, r.Body)
	}
	var e revocation
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
		t.Fatalf("201 body %q: %v", r.Body, err)
	}
	return e
}

// revocationList is GET /solo_auth/revocations.
type revocationList struct {
	Revocations []revocation   `json:"revocations"`
	Storage     map[string]any `json:"storage"`
}

func (p *caddyProc) revocations(t testing.TB) revocationList {
	t.Helper()
	r := p.adminCall(t, http.MethodGet, "/solo_auth/revocations", "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.Status, r.Body)
	}
	var l revocationList
	if err := json.Unmarshal([]byte(r.Body), &l); err != nil || l.Revocations == nil {
		t.Fatalf("GET body %q: %v", r.Body, err)
	}
	return l
}

// revokeCLI runs `caddy solo-auth revoke <args> --address <admin>`,
// unless args name an --address of their own, and returns all it printed.
func (p *caddyProc) revokeCLI(t testing.TB, args ...string) (string, error) {
	t.Helper()
	if !slices.Contains(args, "--address") {
		args = append(args, "--address", fmt.Sprintf("127.0.0.1:%d", p.adminPort))
	}
	out, errOut, err := soloAuth(t, append([]string{"revoke"}, args...)...)
	return out + errOut, err
}

// awaitStatus polls path until it answers status, for up to wait.
func (p *caddyProc) awaitStatus(t testing.TB, path string, status int, wait time.Duration, headers ...string) reply {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		r := p.get(t, path, headers...)
		if r.Status == status {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d %q after %v, want %d", path, r.Status, r.Body, wait, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
