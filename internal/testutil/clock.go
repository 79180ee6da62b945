package testutil

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Clock is a clock the test moves by hand (a clock.Clock).
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []clockWaiter
}

type clockWaiter struct {
	at time.Time
	ch chan time.Time
}

// NewClock is a fake clock at 2026-01-01 00:00 UTC.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, clockWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock by d and wakes every waiter it passes.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// PendingAt is how many waiters wait for exactly at. A test steps the
// clock only once the code under test has registered the wait it steps
// over, so that nothing depends on how fast goroutines run.
func (c *Clock) PendingAt(at time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, w := range c.waiters {
		if w.at.Equal(at) {
			n++
		}
	}
	return n
}

// AwaitWaiters waits until n waiters wait for at.
func AwaitWaiters(t testing.TB, c *Clock, at time.Time, n int) {
	t.Helper()
	Eventually(t, fmt.Sprintf("%d waiters for %v", n, at), func() bool { return c.PendingAt(at) >= n })
}

// Eventually polls cond in real time: the code under test runs its work
// in its own goroutines even when its clock is fake.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
