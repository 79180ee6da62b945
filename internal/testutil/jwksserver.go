package testutil

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// JWKSServer is a JWKS endpoint on loopback whose answers the test sets.
type JWKSServer struct {
	*httptest.Server
	Requests atomic.Int64
	mu       sync.Mutex
	status   int
	body     string
	gate     chan struct{} // if set, each request waits for it
}

// NewJWKSServer answers 200 with body until told otherwise.
func NewJWKSServer(t testing.TB, body string) *JWKSServer {
	s := &JWKSServer{status: 200, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		s.mu.Lock()
		status, body, gate := s.status, s.body, s.gate
		s.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

// Set changes the answer.
func (s *JWKSServer) Set(status int, body string) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// SetGate makes each request wait until g is closed (nil: no wait).
func (s *JWKSServer) SetGate(g chan struct{}) {
	s.mu.Lock()
	s.gate = g
	s.mu.Unlock()
}
