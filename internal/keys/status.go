package keys

import (
	"time"

	"github.com/go-jose/go-jose/v4"
)

// keyInfo describes a key without its material.
type keyInfo struct {
	KID  string `json:"kid"`
	Bits int    `json:"bits"`
	Alg  string `json:"alg"`
}

// Status describes a key set for the admin API. A local set
// (jwks_file) has the URL file://<absolute path>, its path in File, the
// source "file", and the time it was read as its last fetch.
type Status struct {
	URL         string    `json:"url"`
	File        string    `json:"file,omitempty"`
	KIDs        []string  `json:"kids"`
	Keys        []keyInfo `json:"keys"`
	Source      string    `json:"source,omitempty"`
	LastFetch   time.Time `json:"last_fetch,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
}

func (ks *Set) Status() Status {
	st := tableStatus(ks.shown, ks.table.Load())
	ks.mu.Lock()
	st.LastError = ks.lastError
	st.LastAttempt = ks.lastAttempt
	ks.mu.Unlock()
	return st
}

func (f *File) Status() Status {
	st := tableStatus(f.shown, f.table)
	st.File = f.path
	return st
}

// tableStatus describes the table t (nil: none loaded) of the set at url.
func tableStatus(url string, t *keyTable) Status {
	st := Status{URL: url, KIDs: []string{}, Keys: []keyInfo{}}
	if t != nil {
		st.KIDs = SortedKIDs(t.keys)
		for _, kid := range st.KIDs {
			st.Keys = append(st.Keys, keyInfo{KID: kid, Bits: t.keys[kid].N.BitLen(), Alg: string(jose.RS256)})
		}
		st.Source = t.source
		st.LastFetch = t.fetchedAt
	}
	return st
}
