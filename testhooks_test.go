//go:build !soloauth_testhooks

package soloauth

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNoTestHookWithoutTag: a build without the soloauth_testhooks tag,
// which every production build is, ignores the integration tests'
// environment variable: the unknown-kid window stays 30 s. The variable
// is read at init, so a child process of this test binary is started with
// it set.
func TestNoTestHookWithoutTag(t *testing.T) {
	if os.Getenv("SOLO_AUTH_TESTHOOK_CHILD") == "1" {
		fmt.Printf("jwksMinInterval=%v\n", jwksMinInterval)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoTestHookWithoutTag$", "-test.v")
	cmd.Env = append(os.Environ(), "SOLO_AUTH_TESTHOOK_CHILD=1", "SOLO_AUTH_TEST_JWKS_MIN_INTERVAL=1ms")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "jwksMinInterval=30s\n") {
		t.Fatalf("a build without the tag took the window from the environment:\n%s", out)
	}
	if strings.Contains(string(out), "test hook") {
		t.Fatalf("a build without the tag has the test hook:\n%s", out)
	}
}
