package jwt

import "testing"

// TestIssuerAccepted: an issuer with or without one trailing slash is the
// same issuer, on either side; nothing else is relaxed.
func TestIssuerAccepted(t *testing.T) {
	accepted := []string{"https://api.workos.com", "https://auth.solo.one/"}
	for _, tt := range []struct {
		iss  string
		want bool
	}{
		{"https://api.workos.com", true},
		{"https://api.workos.com/", true},
		{"https://auth.solo.one/", true},
		{"https://auth.solo.one", true},
		{"https://api.workos.com//", false},
		{"https://api.workos.com/x", false},
		{"https://API.workos.com", false},
		{"https://api.workos.co", false},
		{"", false},
		{"/", false},
	} {
		if got := issuerAccepted(accepted, tt.iss); got != tt.want {
			t.Errorf("issuerAccepted(%q) = %v, want %v", tt.iss, got, tt.want)
		}
	}
	if issuerAccepted([]string{"/"}, "") || !issuerAccepted([]string{"/"}, "/") {
		t.Error("an issuer of \"/\" accepts only itself")
	}
}
