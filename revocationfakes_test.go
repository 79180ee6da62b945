package soloauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// memStorage is the part of certmagic.Storage the list uses, in memory,
// with failures the test switches on. Like certmagic's FileStorage, a
// folder exists once a file was stored in it and stays when emptied; List
// of a missing folder fails with fs.ErrNotExist.
type memStorage struct {
	mu                                        sync.Mutex
	data                                      map[string][]byte
	folders                                   map[string]bool
	failList, failLoad, failStore, failDelete error
	// partialList, while > 0, makes that many Lists show one file
	// fewer and fail with fs.ErrNotExist, as FileStorage's does when a
	// file vanishes during its walk.
	partialList int
	// listGate, if set, makes List wait until it is closed; listing is
	// told of each List that waits.
	listGate chan struct{}
	listing  chan struct{}
	// storeGate, if set, makes Store wait until it is closed.
	storeGate chan struct{}
	loads     int
}

func newMemStorage() *memStorage {
	return &memStorage{data: map[string][]byte{}, folders: map[string]bool{}}
}

func (s *memStorage) Store(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	gate := s.storeGate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failStore != nil {
		return s.failStore
	}
	s.data[key] = slices.Clone(value)
	s.folders[path.Dir(key)] = true
	return nil
}

func (s *memStorage) Load(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	if s.failLoad != nil {
		return nil, s.failLoad
	}
	v, ok := s.data[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return slices.Clone(v), nil
}

func (s *memStorage) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failDelete != nil {
		return s.failDelete
	}
	if _, ok := s.data[key]; !ok {
		return fs.ErrNotExist
	}
	delete(s.data, key)
	return nil
}

func (s *memStorage) Exists(_ context.Context, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.data[key]
	return ok || s.folders[key]
}

func (s *memStorage) List(_ context.Context, prefix string, _ bool) ([]string, error) {
	s.mu.Lock()
	gate, listing := s.listGate, s.listing
	// What the folder holds now, as a walk would read it, whatever
	// changes while List waits at the gate.
	var keys []string
	for k := range s.data {
		if strings.HasPrefix(k, prefix+"/") {
			keys = append(keys, k)
		}
	}
	folder := s.folders[prefix]
	s.mu.Unlock()
	if gate != nil {
		if listing != nil {
			listing <- struct{}{}
		}
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failList != nil {
		return nil, s.failList
	}
	if !folder {
		return nil, fs.ErrNotExist
	}
	slices.Sort(keys)
	if s.partialList > 0 && len(keys) > 0 {
		s.partialList--
		return keys[:len(keys)-1], fmt.Errorf("lstat %s: %w", keys[len(keys)-1], fs.ErrNotExist)
	}
	return keys, nil
}

func (s *memStorage) set(f func(s *memStorage)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *memStorage) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// configContext is a Caddy context with a config whose storage is a
// folder of the test's, as a config load makes: ctx.Storage() needs a
// config (it panics without one).
func configContext(t *testing.T) (caddy.Context, context.CancelFunc) {
	t.Helper()
	raw, err := json.Marshal(map[string]string{"module": "file_system", "root": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	base, err := caddy.ProvisionContext(&caddy.Config{StorageRaw: raw})
	if err != nil {
		t.Fatal(err)
	}
	return caddy.NewContext(base)
}

// testList is a list on a fake clock whose syncs the test hears of.
type testList struct {
	*revocationList
	clk    *tu.Clock
	synced chan error
}

// Each list has a clock of its own, so that a test knows whose loop a
// waiter is.
func newTestList(t *testing.T) *testList {
	clk := tu.NewClock()
	l := &testList{revocationList: newRevocationList(clk), clk: clk, synced: make(chan error, 16)}
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

func ids(entries []*Revocation) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

func revokesSub(l *revocationList, sub string) bool {
	return l.revokes(&jwt.Identity{Subject: sub, Token: "a.b.c"})
}

// counterValue reads a counter through a registry of its own (no
// client_model import needed).
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathering the counter: %v", err)
	}
	return mfs[0].GetMetric()[0].GetCounter().GetValue()
}
