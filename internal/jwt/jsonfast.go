package jwt

import (
	"bytes"
	"unicode/utf8"
)

// The fast path for reading a token's header and claims. Real tokens are
// flat objects of short ASCII strings, numbers and arrays of strings;
// jsontext spends more time per member on them than HMAC-SHA256 spends on
// the whole token, and allocates. flatObject reads exactly that
// subset without allocating, and says "not mine" for everything else: any
// backslash escape, a nested object, an array holding an array or an
// object, more than maxFlatMembers members, or anything invalid. Those
// tokens go to the strict jsontext path (strictjson.ScanObject), which stays
// the judge of every input. The fast path only has to be right on what it
// accepts: on that subset it must give exactly jsontext's answer, which
// FuzzFlatScan checks.

// maxFlatMembers bounds the members the fast path handles, so that its
// duplicate-name check (a linear search per name) stays cheap.
const maxFlatMembers = 32

// flatValue is one member's value, as the bytes of the token spell it.
type flatValue struct {
	// kind is '"' for a string, '0' for a number, '[' for an array of
	// scalars, and 't', 'f' or 'n' for true, false and null.
	kind byte
	// raw is the string's content between its quotes (which is its value,
	// since the fast path has no escapes), the number as written, or the
	// whole array.
	raw []byte
}

// flatScanner walks data; i is the next byte to read.
type flatScanner struct {
	data []byte
	i    int
}

// flatObject iterates over the members of the object in data, checking
// that data is wholly in the fast subset (and so valid JSON free of
// duplicate names). It is an iterator rather than a callback so that data,
// which the verifier keeps on its stack, does not escape.
//
//	o := newFlatObject(data)
//	for name, value, more := o.next(); more; name, value, more = o.next() { ... }
//	if !o.ok() { start over on the strict path }
//
// name and value alias data. (Slices of data stored in *o would make data
// escape, hence the names' offsets.)
type flatObject struct {
	s     flatScanner
	names [maxFlatMembers]struct{ start, end int }
	n     int
	state int8 // flatMembers while reading, then flatDone or flatRefused
}

const (
	flatMembers int8 = iota
	flatDone
	flatRefused
)

func newFlatObject(data []byte) flatObject {
	o := flatObject{s: flatScanner{data: data}}
	o.s.skipSpace()
	if !o.s.consume('{') {
		o.state = flatRefused
		return o
	}
	o.s.skipSpace()
	if o.s.consume('}') {
		o.end()
	}
	return o
}

// next reads the next member, and reports whether there was one.
func (o *flatObject) next() (name []byte, value flatValue, more bool) {
	if o.state != flatMembers {
		return nil, flatValue{}, false
	}
	if o.n > 0 { // after a member: a comma, or the end
		o.s.skipSpace()
		if o.s.consume('}') {
			o.end()
			return nil, flatValue{}, false
		}
		if !o.s.consume(',') {
			return o.refuse()
		}
		o.s.skipSpace()
	}
	start := o.s.i + 1
	name, ok := o.s.str()
	if !ok || o.n == maxFlatMembers {
		return o.refuse()
	}
	for _, seen := range o.names[:o.n] {
		if bytes.Equal(o.s.data[seen.start:seen.end], name) {
			return o.refuse()
		}
	}
	o.names[o.n].start, o.names[o.n].end = start, start+len(name)
	o.n++
	o.s.skipSpace()
	if !o.s.consume(':') {
		return o.refuse()
	}
	o.s.skipSpace()
	if value, ok = o.s.value(); !ok {
		return o.refuse()
	}
	return name, value, true
}

// ok reports, once next has returned false, whether the whole of data was
// one object in the fast subset. Members already returned count for
// nothing otherwise.
func (o *flatObject) ok() bool { return o.state == flatDone }

func (o *flatObject) end() {
	o.s.skipSpace()
	if o.s.i == len(o.s.data) {
		o.state = flatDone
	} else {
		o.state = flatRefused
	}
}

func (o *flatObject) refuse() ([]byte, flatValue, bool) {
	o.state = flatRefused
	return nil, flatValue{}, false
}

// value reads a scalar or an array of scalars.
func (s *flatScanner) value() (flatValue, bool) {
	if s.peek() != '[' {
		return s.scalar()
	}
	start := s.i
	s.i++
	s.skipSpace()
	if !s.consume(']') {
		for {
			if _, ok := s.scalar(); !ok {
				return flatValue{}, false
			}
			s.skipSpace()
			if s.consume(']') {
				break
			}
			if !s.consume(',') {
				return flatValue{}, false
			}
			s.skipSpace()
		}
	}
	return flatValue{kind: '[', raw: s.data[start:s.i]}, true
}

// scalar reads a string, a number or a literal.
func (s *flatScanner) scalar() (flatValue, bool) {
	switch c := s.peek(); {
	case c == '"':
		raw, ok := s.str()
		return flatValue{kind: '"', raw: raw}, ok
	case c == '-' || ('0' <= c && c <= '9'):
		raw, ok := s.number()
		return flatValue{kind: '0', raw: raw}, ok
	case c == 't':
		return flatValue{kind: 't'}, s.literal("true")
	case c == 'f':
		return flatValue{kind: 'f'}, s.literal("false")
	case c == 'n':
		return flatValue{kind: 'n'}, s.literal("null")
	}
	return flatValue{}, false
}

// str reads a string without escapes and returns its content: no
// backslash, no control character, valid UTF-8 (what jsontext requires).
func (s *flatScanner) str() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.i
	ascii := true
	for ; s.i < len(s.data); s.i++ {
		switch c := s.data[s.i]; {
		case c == '"':
			content := s.data[start:s.i]
			s.i++
			return content, ascii || utf8.Valid(content)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// number reads a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *flatScanner) number() ([]byte, bool) {
	start := s.i
	s.consume('-')
	if !s.consume('0') && !s.digits() {
		return nil, false
	}
	if s.consume('.') && !s.digits() {
		return nil, false
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if !s.digits() {
			return nil, false
		}
	}
	return s.data[start:s.i], true
}

// digits reads one or more decimal digits.
func (s *flatScanner) digits() bool {
	start := s.i
	for s.i < len(s.data) && '0' <= s.data[s.i] && s.data[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

func (s *flatScanner) literal(word string) bool {
	if len(s.data)-s.i < len(word) || string(s.data[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

func (s *flatScanner) skipSpace() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *flatScanner) peek() byte {
	if s.i < len(s.data) {
		return s.data[s.i]
	}
	return 0
}

func (s *flatScanner) consume(c byte) bool {
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}
