package keys

import (
	"cmp"
	"time"

	"go.uber.org/zap"

	"github.com/solo-one/caddy-solo-auth/internal/users"
)

// userSettings is what a handler's config asks of a set besides its
// refresh: where to save it and where to log.
type userSettings struct {
	store  Store       // nil: this user's config saves nothing
	logger *zap.Logger // nil: this user logs nothing
}

// User is one handler's use of a key set: a handle returned by AddUser,
// given back to RemoveUser.
type User = users.User[userSettings]

// AddUser records a handler that uses the set. Its refresh interval counts
// towards the schedule (the shortest of all users wins), and the newest
// user's storage and logger are the ones in use, until it is removed.
func (ks *Set) AddUser(refresh time.Duration, store Store, logger *zap.Logger) *User {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	u := ks.users.Add(refresh, userSettings{store: store, logger: logger})
	ks.usersChangedLocked()
	return u
}

// RemoveUser forgets a handler: its refresh interval no longer counts,
// and if its storage and logger were in use, those of the newest user
// left take their place. A config that failed to load, or was replaced,
// so leaves nothing of itself in a set that outlives it.
func (ks *Set) RemoveUser(u *User) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.users.Remove(u)
	ks.usersChangedLocked()
}

// usersChangedLocked puts the newest user's storage and logger in use and
// reschedules if the shortest refresh changed. ks.mu is held.
func (ks *Set) usersChangedLocked() {
	newest, _ := ks.users.Newest()
	ks.store = newest.store
	ks.logger.Store(cmp.Or(newest.logger, zap.NewNop()))
	shortest := ks.users.Shortest(0)
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
