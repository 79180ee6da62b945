package soloauth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// pendingFile is one file of a set that is written whole or not at all.
type pendingFile struct {
	flag string // the flag that named it, for errors: "--key"
	path string
	data []byte
	mode fs.FileMode
}

// fileOps are the calls that put a written file in place. Tests replace
// them to make the second file fail after the first is in place.
type fileOps struct {
	rename func(oldpath, newpath string) error
	link   func(oldname, newname string) error
}

var osFileOps = fileOps{rename: os.Rename, link: os.Link}

// placedFile is a file put in place, and what undoes that.
type placedFile struct {
	path    string
	existed bool   // it replaced a file (--force)
	backup  string // a hard link to the replaced file, or "" if none could be made
}

// writeFilePair writes files so that they all get their new content or
// none changes. Every target is checked before anything is written: an
// existing file is kept unless force, a directory always. Each file is
// written to a temporary file beside its target (so that the last step
// is a rename on one file system), with its mode set before its data,
// and synced; only when all are written are they put in place, in order.
// Without force a file is put in place with a hard link, which fails if
// the target appeared meanwhile, rather than a rename, which would
// replace it. If one cannot be put in place, those already placed are
// undone: a new file removed, a replaced one restored from a hard link
// taken before. Temporary files never outlive the call.
func writeFilePair(ops fileOps, force bool, files ...pendingFile) error {
	existed := make([]bool, len(files))
	seen := map[string]string{}
	for i, f := range files {
		abs, err := filepath.Abs(f.path)
		if err != nil {
			return fmt.Errorf("%s %s: %w", f.flag, f.path, err)
		}
		if other, dup := seen[abs]; dup {
			return fmt.Errorf("%s and %s name the same file %s", other, f.flag, f.path)
		}
		seen[abs] = f.flag
		fi, err := os.Lstat(f.path)
		switch {
		case err == nil && fi.IsDir():
			return fmt.Errorf("%s %s is a directory; nothing written", f.flag, f.path)
		case err == nil && !force:
			return fmt.Errorf("%s %s exists; it is kept and nothing is written (use --force to replace it)", f.flag, f.path)
		case err == nil:
			existed[i] = true
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%s %s: %w; nothing written", f.flag, f.path, err)
		}
	}
	temps := make([]string, len(files))
	defer func() {
		for _, t := range temps {
			if t != "" {
				_ = os.Remove(t)
			}
		}
	}()
	for i, f := range files {
		t, err := writeTemp(f)
		if err != nil {
			return fmt.Errorf("%s %s: %w; nothing written", f.flag, f.path, err)
		}
		temps[i] = t
	}
	var done []placedFile
	for i, f := range files {
		p := placedFile{path: f.path, existed: existed[i]}
		if p.existed {
			p.backup = temps[i] + ".old"
			if ops.link(f.path, p.backup) != nil {
				p.backup = ""
			}
		}
		if err := place(ops, temps[i], f.path, force); err != nil {
			if p.backup != "" {
				_ = os.Remove(p.backup)
			}
			return fmt.Errorf("%s %s: %w; %s", f.flag, f.path, err, undo(ops, done))
		}
		temps[i] = ""
		done = append(done, p)
	}
	for _, p := range done {
		if p.backup != "" {
			_ = os.Remove(p.backup)
		}
		syncDir(filepath.Dir(p.path))
	}
	return nil
}

// writeTemp writes f to a new temporary file beside its target.
func writeTemp(f pendingFile) (string, error) {
	dir := filepath.Dir(f.path)
	t, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+".tmp-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // its path is the temporary file's, which never existed
		}
		return "", fmt.Errorf("cannot create a file in %s: %w", dir, err)
	}
	err = t.Chmod(f.mode) // CreateTemp makes it 0600 until then
	if err == nil {
		_, err = t.Write(f.data)
	}
	if err == nil {
		err = t.Sync()
	}
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(t.Name())
		return "", err
	}
	return t.Name(), nil
}

// place moves a written temporary file to its target.
func place(ops fileOps, tmp, target string, force bool) error {
	if force {
		return ops.rename(tmp, target)
	}
	err := ops.link(tmp, target)
	switch {
	case err == nil:
		_ = os.Remove(tmp)
		return nil
	case errors.Is(err, fs.ErrExist):
		return errors.New("appeared while the files were written; it is kept")
	}
	// No hard links on this file system: rename, relying on the check
	// made before anything was written.
	if _, serr := os.Lstat(target); serr == nil {
		return errors.New("appeared while the files were written; it is kept")
	}
	return ops.rename(tmp, target)
}

// undo takes back the files already placed and says what it did.
func undo(ops fileOps, done []placedFile) string {
	var lost []string
	for i := len(done) - 1; i >= 0; i-- {
		p := done[i]
		var err error
		switch {
		case p.backup != "":
			err = ops.rename(p.backup, p.path)
		case !p.existed:
			err = os.Remove(p.path)
		default:
			err = errors.New("no copy of the replaced file")
		}
		if err != nil {
			lost = append(lost, fmt.Sprintf("%s was changed and could not be restored (%v)", p.path, err))
		}
	}
	if lost != nil {
		return strings.Join(lost, "; ")
	}
	return "nothing written"
}

// syncDir makes a rename in dir durable where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
