package testutil

import (
	"context"
	"io/fs"
	"sync"
)

// MemStore is an in-memory store for saved key sets (Load and Store).
type MemStore struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (m *MemStore) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return v, nil
}

func (m *MemStore) Store(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		m.data = map[string][]byte{}
	}
	m.data[key] = value
	return nil
}
