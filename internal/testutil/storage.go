package testutil

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
)

// Storage is the part of certmagic.Storage that revocation uses, in memory,
// with failures the test switches on. Like certmagic's FileStorage, a
// folder exists once a file was stored in it and stays when emptied; List
// of a missing folder fails with fs.ErrNotExist.
type Storage struct {
	mu                                        sync.Mutex
	Data                                      map[string][]byte
	Folders                                   map[string]bool
	FailList, FailLoad, FailStore, FailDelete error
	// PartialList, while > 0, makes that many Lists show one file
	// fewer and fail with fs.ErrNotExist, as FileStorage's does when a
	// file vanishes during its walk.
	PartialList int
	// ListGate, if set, makes List wait until it is closed; Listing is
	// told of each List that waits.
	ListGate chan struct{}
	Listing  chan struct{}
	// StoreGate, if set, makes Store wait until it is closed.
	StoreGate chan struct{}
	// LoadGate, if set, makes Load wait until it is closed; Loading is
	// told of each Load that waits.
	LoadGate chan struct{}
	Loading  chan struct{}
	// Unlisted holds keys that List leaves out while Load finds them,
	// as a listing that lags the writes does (an eventually consistent
	// object store, or a paginated one).
	Unlisted map[string]bool
	Loads    int
}

// NewStorage is an empty Storage.
func NewStorage() *Storage {
	return &Storage{Data: map[string][]byte{}, Folders: map[string]bool{}}
}

func (s *Storage) Store(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	gate := s.StoreGate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.FailStore != nil {
		return s.FailStore
	}
	s.Data[key] = slices.Clone(value)
	// Every folder on the way, as FileStorage's MkdirAll makes them.
	for dir := path.Dir(key); dir != "." && dir != "/"; dir = path.Dir(dir) {
		s.Folders[dir] = true
	}
	return nil
}

func (s *Storage) Load(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	gate, loading := s.LoadGate, s.Loading
	s.mu.Unlock()
	if gate != nil {
		if loading != nil {
			loading <- struct{}{}
		}
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Loads++
	if s.FailLoad != nil {
		return nil, s.FailLoad
	}
	v, ok := s.Data[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return slices.Clone(v), nil
}

func (s *Storage) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.FailDelete != nil {
		return s.FailDelete
	}
	if _, ok := s.Data[key]; !ok {
		return fs.ErrNotExist
	}
	delete(s.Data, key)
	return nil
}

func (s *Storage) Exists(_ context.Context, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.Data[key]
	return ok || s.Folders[key]
}

func (s *Storage) List(_ context.Context, prefix string, _ bool) ([]string, error) {
	s.mu.Lock()
	gate, listing := s.ListGate, s.Listing
	// What the folder holds now, as a walk would read it, whatever
	// changes while List waits at the gate.
	var keys []string
	for k := range s.Data {
		if strings.HasPrefix(k, prefix+"/") && !s.Unlisted[k] {
			keys = append(keys, k)
		}
	}
	folder := s.Folders[prefix]
	s.mu.Unlock()
	if gate != nil {
		if listing != nil {
			listing <- struct{}{}
		}
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.FailList != nil {
		return nil, s.FailList
	}
	if !folder {
		return nil, fs.ErrNotExist
	}
	slices.Sort(keys)
	if s.PartialList > 0 && len(keys) > 0 {
		s.PartialList--
		return keys[:len(keys)-1], fmt.Errorf("lstat %s: %w", keys[len(keys)-1], fs.ErrNotExist)
	}
	return keys, nil
}

// Set changes the storage's failures and gates under its lock.
func (s *Storage) Set(f func(s *Storage)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// Keys lists the stored keys, sorted.
func (s *Storage) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
