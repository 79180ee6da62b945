package users

import (
	"testing"
	"time"
)

func TestUsers(t *testing.T) {
	var us Users[string]
	if _, ok := us.Newest(); ok || us.Shortest(time.Second) != 0 {
		t.Fatal("an empty list has a user")
	}
	a := us.Add(20*time.Second, "a")
	b := us.Add(0, "b")
	c := us.Add(5*time.Second, "c")
	for _, tt := range []struct {
		name   string
		dflt   time.Duration
		newest string
		want   time.Duration
	}{
		{"0 counts as the default", 3 * time.Second, "c", 3 * time.Second},
		{"0 with no default counts as nothing", 0, "c", 5 * time.Second},
	} {
		if got := us.Shortest(tt.dflt); got != tt.want {
			t.Errorf("%s: shortest %v, want %v", tt.name, got, tt.want)
		}
		if s, _ := us.Newest(); s != tt.newest {
			t.Errorf("%s: newest %q, want %q", tt.name, s, tt.newest)
		}
	}
	us.Remove(c)
	if s, _ := us.Newest(); s != "b" || us.Shortest(0) != 20*time.Second {
		t.Errorf("after removing the newest: newest %q, shortest %v", s, us.Shortest(0))
	}
	us.Remove(c) // twice: nothing
	us.Remove(a)
	us.Remove(b)
	if _, ok := us.Newest(); ok || us.Shortest(0) != 0 {
		t.Error("users left after removing all")
	}
}
