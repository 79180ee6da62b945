// Package strictjson reads JSON the way a token verifier must: invalid
// UTF-8, a repeated member name, deep nesting and trailing data are
// refused, never guessed about. The verifier and the JWK parser share it.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// maxJSONDepth bounds the nesting of a token's header and claims. Real
// tokens nest two or three levels; the bound keeps a hostile token from
// costing more than its size.
const maxJSONDepth = 16

var (
	ErrNotObject = errors.New("not a JSON object")
	errTooDeep   = errors.New("JSON nested too deeply")
)

// decoders are reused: a jsontext.Decoder carries buffers worth keeping.
var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(bytes.NewReader(nil)) }}

// DecodeObject decodes a whole JSON object, for the claims a
// placeholder asks for (Identity.Claims); the verifier itself reads only
// what it needs with ScanObject. Both refuse what a token verifier
// must not guess about: invalid UTF-8 (which encoding/json silently
// replaces), a name that appears twice in any object (where parsers
// disagree on which one wins), nesting deeper than maxJSONDepth, and
// anything after the top-level object. jsontext (the JSON v2 tokenizer)
// refuses the first two by default. Numbers are kept as json.Number, so
// that a placeholder shows them as the token wrote them.
func DecodeObject(data []byte) (map[string]any, error) {
	obj := make(map[string]any)
	err := ScanObject(data, func(name []byte, dec *jsontext.Decoder) error {
		val, err := decodeValue(dec)
		obj[string(name)] = val
		return err
	})
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// ScanObject checks data as DecodeObject does and calls member
// for each top-level name, with the decoder positioned at its value; member
// must consume the value (readString, skipValue or decodeValue). The name
// is unquoted and valid only during the call (copy it to keep it), so that
// the members nobody wants cost no allocation.
func ScanObject(data []byte, member func(name []byte, dec *jsontext.Decoder) error) error {
	dec := decoders.Get().(*jsontext.Decoder)
	defer decoders.Put(dec)
	dec.Reset(bytes.NewReader(data))
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '{' {
		return ErrNotObject
	}
	var nameBuf [64]byte
	for dec.PeekKind() != '}' {
		raw, err := dec.ReadValue() // the name, quoted
		if err != nil {
			return err
		}
		name, err := jsontext.AppendUnquote(nameBuf[:0], raw)
		if err != nil {
			return err
		}
		if err := member(name, dec); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil { // the closing '}'
		return err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// ReadString reads a value and returns it if it is a string.
func ReadString(dec *jsontext.Decoder) (s string, isString bool, err error) {
	if dec.PeekKind() != '"' {
		return "", false, SkipValue(dec)
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return "", false, err
	}
	return tok.String(), true, nil
}

// SkipValue consumes a value without building it, checking it (names,
// UTF-8, depth) all the same.
func SkipValue(dec *jsontext.Decoder) error {
	start := dec.StackDepth()
	for {
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		switch depth := dec.StackDepth(); {
		case depth > maxJSONDepth:
			return errTooDeep
		case depth == start:
			return nil
		}
	}
}

func decodeObjectBody(dec *jsontext.Decoder) (map[string]any, error) {
	if dec.StackDepth() > maxJSONDepth {
		return nil, errTooDeep
	}
	obj := make(map[string]any)
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String() // before the next read voids tok
		val, err := decodeValue(dec)
		if err != nil {
			return nil, err
		}
		obj[name] = val
	}
	if _, err := dec.ReadToken(); err != nil { // the closing '}'
		return nil, err
	}
	return obj, nil
}

func decodeValue(dec *jsontext.Decoder) (any, error) {
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case '{':
		return decodeObjectBody(dec)
	case '[':
		return decodeArrayBody(dec)
	case '"':
		return tok.String(), nil
	case '0':
		return json.Number(tok.String()), nil
	case 't':
		return true, nil
	case 'f':
		return false, nil
	case 'n':
		return nil, nil
	}
	return nil, errors.New("unexpected JSON token")
}

func decodeArrayBody(dec *jsontext.Decoder) ([]any, error) {
	if dec.StackDepth() > maxJSONDepth {
		return nil, errTooDeep
	}
	arr := []any{}
	for dec.PeekKind() != ']' {
		val, err := decodeValue(dec)
		if err != nil {
			return nil, err
		}
		arr = append(arr, val)
	}
	if _, err := dec.ReadToken(); err != nil { // the closing ']'
		return nil, err
	}
	return arr, nil
}
