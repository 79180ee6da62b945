package jwt

// Exported to the external tests (vectors_test.go, which needs the key
// set parser and so cannot be in this package) and to nothing else.

// VerifySignature is the JWS layer alone: the vectors' payloads are not
// JWT claims sets.
var VerifySignature = (*Verifier).verifySignature

// StaticKeys is a fixed RSA key source by kid.
type StaticKeys = staticKeys
