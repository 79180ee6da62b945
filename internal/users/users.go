// Package users keeps the handlers that use a process-wide object (a key
// set, the revocation list) which outlives config reloads. The newest
// user's settings are the ones in use, so that a reloaded config's storage
// and logger take over and a failed one leaves nothing behind once
// removed; the shortest interval any user asks for wins.
package users

import (
	"slices"
	"time"
)

// User is one handler's use: the interval it asks for and its settings.
// A handle returned by Add, given back to Remove.
type User[S any] struct {
	interval time.Duration
	settings S
}

// Users is a list of users, oldest first. Its zero value is empty; the
// owner guards it with its own lock.
type Users[S any] struct {
	list []*User[S]
}

// Add records a user and returns its handle.
func (us *Users[S]) Add(interval time.Duration, settings S) *User[S] {
	u := &User[S]{interval: interval, settings: settings}
	us.list = append(us.list, u)
	return u
}

// Remove forgets a user.
func (us *Users[S]) Remove(u *User[S]) {
	us.list = slices.DeleteFunc(us.list, func(v *User[S]) bool { return v == u })
}

// Newest is the settings of the user added last, and false when there is
// none.
func (us *Users[S]) Newest() (settings S, ok bool) {
	if len(us.list) == 0 {
		return settings, false
	}
	return us.list[len(us.list)-1].settings, true
}

// Shortest is the shortest interval asked for, a user's interval of 0 or
// less counting as dflt; 0 when no user counts.
func (us *Users[S]) Shortest(dflt time.Duration) time.Duration {
	shortest := time.Duration(0)
	for _, u := range us.list {
		d := u.interval
		if d <= 0 {
			d = dflt
		}
		if d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	return shortest
}
