package revocation

import (
	"sync/atomic"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// testList is a list on a fake clock whose syncs the test hears of.
type testList struct {
	*List
	clk          *tu.Clock
	synced       chan error
	readFailures atomic.Int64
}

// Each list has a clock of its own, so that a test knows whose loop a
// waiter is.
func newTestList(t *testing.T) *testList {
	clk := tu.NewClock()
	l := &testList{clk: clk, synced: make(chan error, 16)}
	l.List = NewList(clk, func() { l.readFailures.Add(1) })
	l.onSync = func(err error) { l.synced <- err }
	return l
}

// poll steps the clock over the poll interval once the loop waits for it,
// and returns the result of the sync it triggers.
func (l *testList) poll(t *testing.T, interval time.Duration) error {
	t.Helper()
	tu.AwaitWaiters(t, l.clk, l.clk.Now().Add(interval), 1)
	// The loop waits again only after its last sync has reported: any
	// event now pending is older (another list's poll stepped the
	// shared clock).
	l.drainPending()
	l.clk.Advance(interval)
	select {
	case err := <-l.synced:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no sync after the poll interval")
		return nil
	}
}

func (l *testList) drainPending() {
	for {
		select {
		case <-l.synced:
		default:
			return
		}
	}
}

func (l *testList) drainSync(t *testing.T) error {
	t.Helper()
	select {
	case err := <-l.synced:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no sync")
		return nil
	}
}

func ids(entries []*Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

func revokesSub(l *List, sub string) bool {
	return l.Revokes(&testToken{idSpec: idSpec{sub: sub}})
}
