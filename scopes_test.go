package soloauth

import "testing"

func BenchmarkMissingScopes(b *testing.B) {
	required := []string{"templates:read", "identity:prefill"}
	granted := []string{"a", "b", "templates:read", "c", "identity:prefill"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if missingScopes(required, granted) != nil {
			b.Fatal("missing")
		}
	}
}
