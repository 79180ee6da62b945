package soloauth

import (
	"testing"
	"time"
)

// awaitSettled waits for a key set's first attempt to settle.
func awaitSettled(t *testing.T, ks *KeySet) {
	t.Helper()
	select {
	case <-ks.settled():
	case <-time.After(10 * time.Second):
		t.Fatal("the first attempt never settled")
	}
}
