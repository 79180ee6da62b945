// Package clock is time made replaceable, so that tests of rate limits,
// retry schedules and polls step a fake clock instead of waiting.
package clock

import "time"

// Clock tells the time and waits on it.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

func (Real) Now() time.Time                         { return time.Now() }
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }
