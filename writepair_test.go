package soloauth

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestWriteFilePairUndo: when the second file cannot be put in place
// after the first is, the first is taken back: a new file removed, a
// replaced one restored. No temporary file is left.
func TestWriteFilePairUndo(t *testing.T) {
	// The second file failing after the first is in place.
	failSecond := func(real func(string, string) error) func(string, string) error {
		return func(oldpath, newpath string) error {
			if strings.HasSuffix(newpath, "b.json") {
				return errors.New("injected failure")
			}
			return real(oldpath, newpath)
		}
	}
	files := func(dir string) []pendingFile {
		return []pendingFile{
			{flag: "--key", path: filepath.Join(dir, "a.key"), data: []byte("new key"), mode: 0o600},
			{flag: "--jwks", path: filepath.Join(dir, "b.json"), data: []byte("new set"), mode: 0o644},
		}
	}
	t.Run("second file fails, new files", func(t *testing.T) {
		dir := t.TempDir()
		ops := fileOps{rename: failSecond(os.Rename), link: failSecond(os.Link)}
		err := writeFilePair(ops, false, files(dir)...)
		if err == nil || !strings.Contains(err.Error(), "injected") || !strings.Contains(err.Error(), "nothing written") {
			t.Fatalf("err = %v", err)
		}
		if got := dirNames(t, dir); len(got) != 0 {
			t.Fatalf("left behind: %q", got)
		}
	})
	t.Run("second file fails, --force over old files", func(t *testing.T) {
		dir := t.TempDir()
		for _, f := range files(dir) {
			if err := os.WriteFile(f.path, []byte("old"), 0o640); err != nil {
				t.Fatal(err)
			}
		}
		ops := fileOps{rename: failSecond(os.Rename), link: os.Link}
		if err := writeFilePair(ops, true, files(dir)...); err == nil || !strings.Contains(err.Error(), "nothing written") {
			t.Fatalf("err = %v", err)
		}
		if got := dirNames(t, dir); !slices.Equal(got, []string{"a.key", "b.json"}) {
			t.Fatalf("files: %q", got)
		}
		for _, f := range files(dir) {
			if got := string(mustRead(t, f.path)); got != "old" {
				t.Errorf("%s is %q, want the old content", f.path, got)
			}
		}
	})
}

// TestPlace: without --force a file is put in place only where none is,
// even one that appeared after the check; where the file system has no
// hard links, a rename does it.
func TestPlace(t *testing.T) {
	dir := t.TempDir()
	tmp, target := filepath.Join(dir, "tmp"), filepath.Join(dir, "target")
	os.WriteFile(tmp, []byte("new"), 0o600)
	os.WriteFile(target, []byte("old"), 0o600)
	if err := place(osFileOps, tmp, target, false); err == nil || string(mustRead(t, target)) != "old" {
		t.Fatalf("replaced a file that appeared meanwhile: %v", err)
	}
	noLinks := fileOps{rename: os.Rename, link: func(string, string) error { return errors.New("operation not supported") }}
	if err := place(noLinks, tmp, target, false); err == nil || string(mustRead(t, target)) != "old" {
		t.Fatalf("without hard links, replaced a file that appeared meanwhile: %v", err)
	}
	os.Remove(target)
	if err := place(noLinks, tmp, target, false); err != nil || string(mustRead(t, target)) != "new" {
		t.Fatalf("without hard links: %v", err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"target"}) {
		t.Fatalf("files %q", got)
	}
}
