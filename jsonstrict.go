package soloauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of a token's header and claims. Real
// tokens nest two or three levels; the bound keeps a hostile token from
// costing more than its size.
const maxJSONDepth = 16

var errNotObject = errors.New("not a JSON object")

// decodeStrictObject decodes a JWS header or JWT claims set. Unlike
// encoding/json it refuses what a token verifier must not guess about:
// invalid UTF-8 (which encoding/json silently replaces), a key that appears
// twice in any object (where parsers disagree on which one wins), nesting
// deeper than maxJSONDepth, and anything after the top-level object.
// Numbers are kept as json.Number so that dates and large integers are
// checked, not rounded.
func decodeStrictObject(data []byte) (map[string]any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	first, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if first != json.Delim('{') {
		return nil, errNotObject
	}
	obj, err := decodeObjectBody(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return obj, nil
}

func decodeObjectBody(dec *json.Decoder, depth int) (map[string]any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	obj := make(map[string]any)
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := keyTok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		val, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		obj[key] = val
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, err
	}
	return obj, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		return decodeObjectBody(dec, depth+1)
	case json.Delim('['):
		return decodeArrayBody(dec, depth+1)
	}
	return tok, nil // string, json.Number, bool or nil
}

func decodeArrayBody(dec *json.Decoder, depth int) ([]any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	arr := []any{}
	for dec.More() {
		val, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, val)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, err
	}
	return arr, nil
}
