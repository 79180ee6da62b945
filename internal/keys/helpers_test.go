package keys

import (
	"testing"
	"time"
)

// awaitSettled waits for a key set's first attempt to settle.
func awaitSettled(t *testing.T, ks *Set) {
	t.Helper()
	select {
	case <-ks.Settled():
	case <-time.After(10 * time.Second):
		t.Fatal("the first attempt never settled")
	}
}
