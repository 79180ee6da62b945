package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// sourceFile: a key set read from a local file (jwks_file).
const sourceFile = "file"

// File is a local JWK set (jwks_file), read when its config loads:
// its keys never change; a reload reads the file again and makes a new
// one if the file changed.
type File struct {
	path   string // absolute
	shown  string // "file://" + path: where logs, metrics and the admin API show a URL
	digest string // SHA-256 of the contents, hex: with path, names the set in the pools
	table  *keyTable
}

// Destruct does nothing: a file set holds no goroutine or connection.
func (*File) Destruct() error { return nil }

// ID names the file set, contents included, in the file set pool and in
// the key of the verifier pool: a changed file is another set.
func (f *File) ID() string { return f.path + "\x00" + f.digest }

// ReadFile reads and checks the JWK set at path with the rules of a
// fetched set: at most jwksMaxBody bytes, a JWK set, at least one usable
// key (each key that is not is skipped and logged, as for a fetch). Every
// error starts with the absolute path; the caller names the setting
// (jwks_file, --jwks-file) before it. now is the time of reading, which
// the admin API and the metrics show as the set's fetch time.
func ReadFile(path string, now time.Time, logger *zap.Logger) (*File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: "+format, append([]any{abs}, args...)...)
	}
	body, err := readSmallRegularFile(abs, jwksMaxBody)
	if err != nil {
		return nil, fail("%w", err)
	}
	// Some editors start a UTF-8 file with a byte order mark; JSON has
	// none (RFC 8259 §8.1), and the file is otherwise what was meant.
	body = bytes.TrimPrefix(body, []byte("\ufeff"))
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fail("empty file, want a JWK set")
	}
	f := &File{path: abs, shown: "file://" + filepath.ToSlash(abs)}
	keys, skipped, err := parseJWKSLogged(body, logger, f.shown)
	if err != nil {
		return nil, fail("%w", err)
	}
	if len(keys) == 0 {
		return nil, fail("no usable key (%d skipped: %s; want RSA of at least %d bits, use sig, alg RS256, a kid of its own)",
			len(skipped), skippedReasons(skipped), MinRSABits)
	}
	sum := sha256.Sum256(body)
	f.digest = hex.EncodeToString(sum[:])
	f.table = &keyTable{keys: keys, fetchedAt: now, source: sourceFile}
	return f, nil
}

// readSmallRegularFile reads a regular file of at most limit bytes. A
// directory, a device or a pipe is refused before it is opened for
// reading (a pipe would block the config load).
func readSmallRegularFile(path string, limit int64) ([]byte, error) {
	info, err := os.Stat(path) // follows symlinks; a loop is an error here
	if err != nil {
		return nil, withoutPath(err)
	}
	switch {
	case info.IsDir():
		return nil, errors.New("is a directory, want a JWK set file")
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("not a regular file (%s)", info.Mode().Type())
	case info.Size() > limit:
		return nil, fmt.Errorf("%d bytes, over the %d-byte limit of a JWK set", info.Size(), limit)
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, withoutPath(err)
	}
	defer file.Close()
	// The file may grow between Stat and here: the limit holds anyway.
	body, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		return nil, withoutPath(err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("over the %d-byte limit of a JWK set", limit)
	}
	return body, nil
}

// withoutPath drops the path from an *fs.PathError (and the operation,
// which says nothing to an operator): the caller names the path.
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// skippedReasons lists why each key was skipped, for an operator to fix
// the file: `kid "a": RSA key of 1024 bits; ...`.
func skippedReasons(skipped []skippedKey) string {
	reasons := make([]string, len(skipped))
	for i, k := range skipped {
		reasons[i] = fmt.Sprintf("kid %q: %s", k.kid, k.reason)
	}
	return strings.Join(reasons, "; ")
}

// Path is the file's absolute path.
func (f *File) Path() string { return f.path }

// LogInUse logs the set's first use, as a fetched set logs its keys.
func (f *File) LogInUse(logger *zap.Logger) {
	logInUse(logger, f.shown, f.table, SortedKIDs(f.table.keys), nil)
}
