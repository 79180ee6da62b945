package testutil

import (
	"crypto/rand"
	"crypto/rsa"
)

// SecretA and SecretB are the tests' HS256 secrets: two, so that a test
// can rotate from one to the other.
const (
	SecretA = "0123456789abcdef0123456789abcdef"
	SecretB = "fedcba9876543210fedcba9876543210-rotated"
)

// RSAKey, RSAKey2 and RSAKey3 are 2048-bit keys made once per test binary,
// for tests that need one, another, or a third.
var (
	RSAKey  = MustRSA(2048)
	RSAKey2 = MustRSA(2048)
	RSAKey3 = MustRSA(2048)
)

// MustRSA generates an RSA key of the given size or panics.
func MustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}
