package jwt

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/solo-one/caddy-solo-auth/internal/strictjson"
)

// Reading one member's value in the shape its claim or header member is
// declared with (claims.go, jws.go), on either JSON path: flatValue.read
// on the fast path, readMember on the strict one. The two must agree on
// any input the fast path accepts: FuzzFlatScan and TestFlatAgreesWithStrict
// check that both give the same tokenHeader and claimSet.

// valueShape is how a member's value is read.
type valueShape uint8

const (
	// shapeSkip: only the member's presence matters.
	shapeSkip valueShape = iota
	// shapeText: a string; ok is false for any other value.
	shapeText
	// shapeDate: a NumericDate (see numericDate).
	shapeDate
	// shapeTextOrTexts: a string or an array of strings.
	shapeTextOrTexts
)

// memberValue is a member's value, read in one shape.
type memberValue struct {
	text    string   // shapeText
	texts   []string // shapeTextOrTexts: the string, or the array's strings
	isArray bool     // shapeTextOrTexts: the value was an array
	ok      bool     // the value had the shape
	date    dateClaim
}

// read is the fast path's reading of v in a shape.
func (v flatValue) read(shape valueShape) memberValue {
	var m memberValue
	switch shape {
	case shapeText:
		m.text, m.ok = v.text()
	case shapeDate:
		m.date = v.date()
	case shapeTextOrTexts:
		m.texts, m.isArray, m.ok = v.textOrTexts()
	}
	return m
}

// readMember is the strict path's reading of the next value in a shape; it
// consumes the value whatever its shape.
func readMember(dec *jsontext.Decoder, shape valueShape) (m memberValue, err error) {
	switch shape {
	case shapeText:
		m.text, m.ok, err = strictjson.ReadString(dec)
	case shapeDate:
		m.date, err = readDate(dec)
	case shapeTextOrTexts:
		m.texts, m.isArray, m.ok, err = readStringOrStrings(dec)
	default:
		err = strictjson.SkipValue(dec)
	}
	return m, err
}

// readDate reads a NumericDate: a JSON number of seconds since the epoch,
// fractions allowed, between 0 and the year 9999.
func readDate(dec *jsontext.Decoder) (dateClaim, error) {
	if dec.PeekKind() != '0' {
		return dateClaim{set: true}, strictjson.SkipValue(dec)
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return dateClaim{set: true}, err
	}
	return numericDate(tok.Float()), nil
}

// date is readDate on the fast path; jsontext's Token.Float is
// strconv.ParseFloat of the number as written, as this is.
func (v flatValue) date() dateClaim {
	if v.kind != '0' {
		return dateClaim{set: true}
	}
	return numericDate(strconv.ParseFloat(string(v.raw), 64))
}

// numericDate is the date of a parsed number, if it is one we accept.
func numericDate(f float64, err error) dateClaim {
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return dateClaim{set: true}
	}
	sec, frac := math.Modf(f)
	return dateClaim{set: true, ok: true, t: time.Unix(int64(sec), int64(frac*1e9))}
}

// readStringOrStrings reads a string or an array of strings; ok is false
// for any other value (which is consumed all the same).
func readStringOrStrings(dec *jsontext.Decoder) (values []string, isArray, ok bool, err error) {
	switch dec.PeekKind() {
	case '"':
		s, _, err := strictjson.ReadString(dec)
		return []string{s}, false, err == nil, err
	case '[':
		values, ok, err = readStrings(dec)
		return values, true, ok, err
	}
	return nil, false, false, strictjson.SkipValue(dec)
}

// readStrings reads an array of strings; ok is false for any other value.
func readStrings(dec *jsontext.Decoder) (values []string, ok bool, err error) {
	if dec.PeekKind() != '[' {
		return nil, false, strictjson.SkipValue(dec)
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, false, err
	}
	ok = true
	values = []string{}
	for dec.PeekKind() != ']' {
		if dec.PeekKind() != '"' {
			ok = false
			if err := strictjson.SkipValue(dec); err != nil {
				return nil, false, err
			}
			continue
		}
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, false, err
		}
		values = append(values, tok.String())
	}
	if _, err := dec.ReadToken(); err != nil { // the closing ']'
		return nil, false, err
	}
	return values, ok, nil
}

// text returns the value if it is a string. The two algs we accept come
// without an allocation: every token's header has one.
func (v flatValue) text() (string, bool) {
	if v.kind != '"' {
		return "", false
	}
	switch string(v.raw) {
	case "HS256":
		return "HS256", true
	case "RS256":
		return "RS256", true
	}
	return string(v.raw), true
}

// textOrTexts returns a string, or the strings of an array (ok is false
// if it holds anything else), as readStringOrStrings does on the strict
// path.
func (v flatValue) textOrTexts() (values []string, isArray, ok bool) {
	switch v.kind {
	case '"':
		return []string{string(v.raw)}, false, true
	case '[':
		values, ok = v.texts()
		return values, true, ok
	}
	return nil, false, false
}

// texts returns the strings of an array of scalars, which flatObject
// has already checked; ok is false if it holds anything but strings. The
// strings share one copy of the array's bytes: two allocations in all.
func (v flatValue) texts() (values []string, ok bool) {
	all := string(v.raw)
	values = make([]string, 0, bytes.Count(v.raw, []byte{','})+1)
	ok = true
	s := flatScanner{data: v.raw, i: 1}
	for {
		s.skipSpace()
		if s.consume(']') {
			return values, ok
		}
		s.consume(',')
		s.skipSpace()
		start := s.i
		item, valid := s.scalar()
		switch {
		case !valid: // cannot happen: value checked the array
			return nil, false
		case item.kind == '"':
			values = append(values, all[start+1:s.i-1])
		default:
			ok = false
		}
	}
}
