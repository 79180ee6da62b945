package keys

import (
	"slices"
	"time"

	"go.uber.org/zap"
)

// User is one handler's use of a key set: what its config asks of
// the set. A handle returned by addUser, given back to removeUser.
type User struct {
	refresh time.Duration
	store   Store       // nil: this user's config saves nothing
	logger  *zap.Logger // nil: this user logs nothing
}

// addUser records a handler that uses the set. Its refresh interval counts
// towards the schedule (the shortest of all users wins), and the newest
// user's storage and logger are the ones in use, until it is removed.
func (ks *Set) AddUser(refresh time.Duration, store Store, logger *zap.Logger) *User {
	u := &User{refresh: refresh, store: store, logger: logger}
	ks.mu.Lock()
	ks.users = append(ks.users, u)
	ks.usersChangedLocked()
	ks.mu.Unlock()
	return u
}

// removeUser forgets a handler: its refresh interval no longer counts,
// and if its storage and logger were in use, those of the newest user
// left take their place. A config that failed to load, or was replaced,
// so leaves nothing of itself in a set that outlives it.
func (ks *Set) RemoveUser(u *User) {
	ks.mu.Lock()
	ks.users = slices.DeleteFunc(ks.users, func(v *User) bool { return v == u })
	ks.usersChangedLocked()
	ks.mu.Unlock()
}

// usersChangedLocked puts the newest user's storage and logger in use and
// reschedules if the shortest refresh changed. ks.mu is held.
func (ks *Set) usersChangedLocked() {
	ks.store = nil
	logger := zap.NewNop()
	shortest := time.Duration(0)
	for _, u := range ks.users {
		if u.refresh > 0 && (shortest == 0 || u.refresh < shortest) {
			shortest = u.refresh
		}
	}
	if n := len(ks.users); n > 0 {
		newest := ks.users[n-1]
		ks.store = newest.store
		if newest.logger != nil {
			logger = newest.logger
		}
	}
	ks.logger.Store(logger)
	if shortest == 0 || ks.refresh.Swap(int64(shortest)) == int64(shortest) {
		return
	}
	select {
	case ks.reschedule <- struct{}{}:
	default:
	}
}

func (ks *Set) storage() Store {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.store
}
