package testutil

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// CounterValue reads a counter through a registry of its own (no
// client_model import needed).
func CounterValue(t testing.TB, c prometheus.Counter) float64 {
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
