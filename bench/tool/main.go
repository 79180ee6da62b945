// Command tool prepares and drives the benchmarks of bench/run.sh:
//
//	tool setup <dir> <n>   writes jwks.json, hs256.txt, rs256.txt and
//	                       distinct.txt (n distinct HS256 tokens) into dir
//	tool flood <url> <n>   sends n requests, each with a token never sent
//	                       before, and reports the statuses
//	tool port              prints a free loopback port
//
// The HS256 secret is the environment's BENCH_SECRET.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "port" {
		port()
		return
	}
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: tool setup <dir> <n> | tool flood <url> <n> | tool port")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fail(err)
	}
	switch os.Args[1] {
	case "setup":
		setup(os.Args[2], n)
	case "flood":
		flood(os.Args[2], n)
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

// port prints a loopback port that is free now.
func port() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tool:", err)
	os.Exit(1)
}

func secret() []byte {
	s := os.Getenv("BENCH_SECRET")
	if len(s) < 32 {
		fail(fmt.Errorf("BENCH_SECRET must be at least 32 bytes"))
	}
	return []byte(s)
}

func signer(key jose.SigningKey, kid string) jose.Signer {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(key, opts)
	if err != nil {
		fail(err)
	}
	return s
}

// claims are shaped like a SOLO SDK token.
func claims(i int) []byte {
	now := time.Now()
	b, _ := json.Marshal(map[string]any{
		"sub":                              "user_bench",
		"iat":                              now.Unix(),
		"exp":                              now.Add(2 * time.Hour).Unix(),
		"jti":                              strconv.Itoa(i),
		"permissions":                      []string{"templates:read", "identity:prefill"},
		"https://api.solo.one/workflow_id": "wf_bench",
	})
	return b
}

func mint(s jose.Signer, payload []byte) string {
	jws, err := s.Sign(payload)
	if err != nil {
		fail(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		fail(err)
	}
	return tok
}

func setup(dir string, n int) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		fail(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "bench", Algorithm: "RS256", Use: "sig"}}})
	write(filepath.Join(dir, "jwks.json"), jwks)
	hs := signer(jose.SigningKey{Algorithm: jose.HS256, Key: secret()}, "")
	rs := signer(jose.SigningKey{Algorithm: jose.RS256, Key: key}, "bench")
	write(filepath.Join(dir, "hs256.txt"), []byte(mint(hs, claims(-1))))
	write(filepath.Join(dir, "rs256.txt"), []byte(mint(rs, claims(-2))))
	f, err := os.Create(filepath.Join(dir, "distinct.txt"))
	if err != nil {
		fail(err)
	}
	defer f.Close()
	for i := range n {
		fmt.Fprintln(f, mint(hs, claims(i)))
	}
}

func write(path string, data []byte) {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		fail(err)
	}
}

// flood sends n requests with distinct tokens from 32 connections.
func flood(url string, n int) {
	hs := signer(jose.SigningKey{Algorithm: jose.HS256, Key: secret()}, "")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 30 * time.Second}
	var next, ok, other atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+mint(hs, claims(1_000_000_000+i)))
				resp, err := client.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("flood: %d requests, %d ok, %d not ok\n", n, ok.Load(), other.Load())
}
