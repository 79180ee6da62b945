package revocation

import (
	"testing"
	"time"
)

// TestIndexWithLeavesTheOldIndexAlone: an index made by with is patched
// from clones of the old one's maps. Two entries under one key, one of
// each kind, then one dropped and one added: the new index answers for
// the change, and the old one, which lookups may still be reading,
// answers exactly as before.
func TestIndexWithLeavesTheOldIndexAlone(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	alice1 := mustRevocation(t, `{"sub":"alice"}`, now)
	alice2 := mustRevocation(t, `{"sub":"alice"}`, now.Add(time.Minute))
	sid := mustRevocation(t, `{"sid":"session_1"}`, now)
	jti := mustRevocation(t, `{"jti":"j1"}`, now)
	hash := mustRevocation(t, `{"token_sha256":"`+sha256Hex("x.y.z")+`"}`, now)
	old := newIndex([]*Entry{alice1, alice2, sid, jti})
	at := now.Add(2 * time.Minute)
	early := idSpec{sub: "alice", iat: now.Add(-time.Hour), hasIat: true}
	late := idSpec{sub: "alice", iat: now.Add(30 * time.Second), hasIat: true} // after alice1, before alice2

	next := old.with([]*Entry{hash}, func(e *Entry) bool { return e == alice2 || e == sid })

	for _, tt := range []struct {
		name     string
		x        *index
		token    idSpec
		want     bool
		entryIDs int
	}{
		{"old: alice early", old, early, true, 4},
		{"old: alice late, revoked by alice2", old, late, true, 4},
		{"old: sid", old, idSpec{sid: "session_1"}, true, 4},
		{"old: no token hash yet", old, idSpec{token: "x.y.z"}, false, 4},
		{"new: alice early, alice1 stays", next, early, true, 3},
		{"new: alice late, alice2 dropped", next, late, false, 3},
		{"new: sid dropped", next, idSpec{sid: "session_1"}, false, 3},
		{"new: jti stays", next, idSpec{jti: "j1"}, true, 3},
		{"new: token hash added", next, idSpec{token: "x.y.z"}, true, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.x.revokes(tt.token.identity(), at); got != tt.want {
				t.Errorf("revokes = %v, want %v", got, tt.want)
			}
			if len(tt.x.byID) != tt.entryIDs {
				t.Errorf("%d entries, want %d", len(tt.x.byID), tt.entryIDs)
			}
		})
	}
	if len(old.sub["alice"]) != 2 || len(next.sub["alice"]) != 1 || next.sub["alice"][0] != alice1 {
		t.Errorf("alice's entries: old %v, new %v", old.sub["alice"], next.sub["alice"])
	}
	if _, ok := next.sid["session_1"]; ok {
		t.Error("an emptied key stays in the new index")
	}
	// Adding under a key whose slice has room must not write into the
	// old index's array.
	third := mustRevocation(t, `{"sub":"alice"}`, now.Add(2*time.Minute))
	again := next.with([]*Entry{third}, nil)
	fourth := mustRevocation(t, `{"sub":"alice"}`, now.Add(3*time.Minute))
	other := next.with([]*Entry{fourth}, nil)
	if len(next.sub["alice"]) != 1 || len(again.sub["alice"]) != 2 || again.sub["alice"][1] != third || other.sub["alice"][1] != fourth {
		t.Errorf("alice's entries: before %v, after %v and %v", next.sub["alice"], again.sub["alice"], other.sub["alice"])
	}
}
