package keys

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// countingStore is a tu.MemStore that counts its writes where the test can
// see them after the store itself is gone.
type countingStore struct {
	tu.MemStore
	stores *atomic.Int64
}

func (c *countingStore) Store(ctx context.Context, key string, value []byte) error {
	c.stores.Add(1)
	return c.MemStore.Store(ctx, key, value)
}

// TestKeySetRemovedUserLeavesNothing: when the newest user goes (a config
// that failed to load, or was replaced), the key set saves to and logs
// through the newest user left, and keeps no reference to the one gone.
func TestKeySetRemovedUserLeavesNothing(t *testing.T) {
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	storeA := &tu.MemStore{}
	coreA, logsA := observer.New(zapcore.InfoLevel)
	ks, _ := NewWithUser(Config{URL: srv.URL, Refresh: time.Hour, Clock: clk, Store: storeA, Logger: zap.New(coreA)})
	ks.Start()
	t.Cleanup(func() { ks.Destruct() })
	awaitSettled(t, ks)

	var storesB atomic.Int64
	coreB, logsB := observer.New(zapcore.DebugLevel)
	storeB, loggerB := &countingStore{stores: &storesB}, zap.New(coreB)
	userB := ks.AddUser(30*time.Minute, storeB, loggerB)
	gone := []func() bool{
		func(p weak.Pointer[countingStore]) func() bool { return func() bool { return p.Value() == nil } }(weak.Make(storeB)),
		func(p weak.Pointer[zap.Logger]) func() bool { return func() bool { return p.Value() == nil } }(weak.Make(loggerB)),
		func(p weak.Pointer[User]) func() bool { return func() bool { return p.Value() == nil } }(weak.Make(userB)),
	}
	ks.RemoveUser(userB)
	storeB, loggerB, userB = nil, nil, nil

	// A rotation: a fetch that saves the new set and logs the change.
	srv.Set(200, tu.JWKS(tu.JWK(t, &tu.RSAKey2.PublicKey, "k2", nil)))
	clk.Advance(DefaultMinInterval)
	if _, err := ks.rsaKey(context.Background(), "k2"); err != nil {
		t.Fatal(err)
	}
	if n := storesB.Load(); n != 0 {
		t.Errorf("%d saves to the removed user's storage", n)
	}
	if saved, err := storeA.Load(context.Background(), StorageKey(srv.URL)); err != nil || !strings.Contains(string(saved), `"kid":"k2"`) {
		t.Errorf("the remaining user's storage lacks the new set: %s %v", saved, err)
	}
	if n := logsB.Len(); n != 0 {
		t.Errorf("%d lines logged through the removed user's logger: %v", n, logsB.All())
	}
	if logsA.FilterMessage("jwks: key set in use").FilterField(zap.Strings("added_kids", []string{"k2"})).Len() != 1 {
		t.Errorf("the remaining user's logger did not get the rotation: %v", logsA.All())
	}
	if got := time.Duration(ks.refresh.Load()); got != time.Hour {
		t.Errorf("refresh %v after the 30m user left", got)
	}
	runtime.GC()
	runtime.GC()
	for i, isGone := range gone {
		if !isGone() {
			t.Errorf("the key set still holds the removed user's %s", []string{"storage", "logger", "handle"}[i])
		}
	}
}

// TestKeySetLastUserGone: with no user left, nothing is saved or logged
// through a config that is gone.
func TestKeySetLastUserGone(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ks, user := NewWithUser(Config{URL: "http://127.0.0.1:1/jwks", Store: &tu.MemStore{}, Logger: zap.New(core), Clock: tu.NewClock()})
	ks.RemoveUser(user)
	if ks.storage() != nil {
		t.Error("storage of a removed user still in use")
	}
	ks.log().Warn("after")
	if logs.Len() != 0 {
		t.Error("logger of a removed user still in use")
	}
}
