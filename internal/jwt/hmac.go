package jwt

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
	"unsafe"
)

// hmacKey is one secret's HMAC-SHA256, with keyed states kept for reuse:
// keying HMAC costs as much as hashing a short token.
type hmacKey struct {
	pool sync.Pool // of *hmacState
}

type hmacState struct {
	mac hash.Hash
	sum [sha256.Size]byte // here rather than on the stack, where it would escape through mac
}

func newHMACKey(secret []byte) *hmacKey {
	k := &hmacKey{}
	key := append([]byte(nil), secret...)
	k.pool.New = func() any { return &hmacState{mac: hmac.New(sha256.New, key)} }
	return k
}

func (k *hmacKey) verify(signingInput string, sig []byte) bool {
	st := k.pool.Get().(*hmacState)
	defer k.pool.Put(st)
	st.mac.Reset()
	st.mac.Write(stringBytes(signingInput))
	return hmac.Equal(st.mac.Sum(st.sum[:0]), sig)
}

// stringBytes is s as a byte slice, without the copy that []byte(s)
// makes: a token's signing input is hundreds of bytes, hashed once. Only
// for functions that neither keep nor modify it, as hashes do not.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
