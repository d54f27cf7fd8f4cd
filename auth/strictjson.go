package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting in a JWT header or payload. Real tokens nest
// two or three levels; the bound keeps the recursive walk's stack small
// whatever the input.
const maxJSONDepth = 64

var (
	errJSONSyntax   = errors.New("invalid JSON")
	errDuplicateKey = errors.New("duplicate JSON object key")
	errJSONDepth    = errors.New("JSON nested too deeply")
	errNotObject    = errors.New("not a JSON object")
)

// walkObject checks that b is one JSON object with no duplicate keys at any
// depth, and calls field with each top-level key (unescaped) and the raw
// bytes of its value.
//
// RFC 7515 §4 and RFC 7519 §4 let a parser either reject duplicate member
// names or take the last; we reject, because two parsers that pick
// differently (ours and golang-jwt's, or a proxy's) would disagree about
// what a token says (case 33). Keys are compared after unescaping, as
// encoding/json decodes them, so "exp" and "\u0065xp" are duplicates.
//
// encoding/json validates the syntax first; the walk below then only has to
// find the structure of text known to be valid, so it is not a second JSON
// parser that could disagree with the first. It is linear in len(b): each
// byte is visited once and each object keeps a set of the keys seen.
// (json.Decoder.Token does the same job about three times slower.)
func walkObject(b []byte, field func(key string, raw []byte) error) error {
	if !json.Valid(b) {
		return errJSONSyntax
	}
	w := jsonWalker{b: b}
	w.skipSpace()
	if w.peek() != '{' {
		return errNotObject
	}
	return w.object(1, field)
}

// jsonWalker walks JSON text that json.Valid has accepted. peek returns 0
// past the end, so even invalid text cannot make it index out of range.
type jsonWalker struct {
	b []byte
	i int
}

func (w *jsonWalker) peek() byte {
	if w.i < len(w.b) {
		return w.b[w.i]
	}
	return 0
}

func (w *jsonWalker) skipSpace() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// object consumes an object starting at '{'. Its members' values are at
// the given depth; field, if not nil, sees each member.
func (w *jsonWalker) object(depth int, field func(key string, raw []byte) error) error {
	w.i++ // '{'
	w.skipSpace()
	if w.peek() == '}' {
		w.i++
		return nil
	}
	var seen map[string]struct{}
	for {
		w.skipSpace()
		if w.peek() != '"' {
			return errJSONSyntax
		}
		start := w.i
		w.skipString()
		key, err := jsonString(w.b[start:w.i])
		if err != nil {
			return err
		}
		if _, dup := seen[key]; dup {
			return errDuplicateKey
		}
		if seen == nil {
			seen = make(map[string]struct{}, 8)
		}
		seen[key] = struct{}{}
		w.skipSpace()
		if w.peek() != ':' {
			return errJSONSyntax
		}
		w.i++
		raw, err := w.value(depth)
		if err != nil {
			return err
		}
		if field != nil {
			if err := field(key, raw); err != nil {
				return err
			}
		}
		w.skipSpace()
		switch w.peek() {
		case ',':
			w.i++
		case '}':
			w.i++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// value consumes one value, checking objects inside it for duplicate keys,
// and returns its bytes. depth is the number of containers around it.
func (w *jsonWalker) value(depth int) ([]byte, error) {
	w.skipSpace()
	start := w.i
	switch w.peek() {
	case '{':
		if depth >= maxJSONDepth {
			return nil, errJSONDepth
		}
		if err := w.object(depth+1, nil); err != nil {
			return nil, err
		}
	case '[':
		if depth >= maxJSONDepth {
			return nil, errJSONDepth
		}
		if err := w.array(depth + 1); err != nil {
			return nil, err
		}
	case '"':
		w.skipString()
	case 0:
		return nil, errJSONSyntax
	default: // number, true, false or null: runs to the next delimiter
		for w.i < len(w.b) && !isDelimiter(w.b[w.i]) {
			w.i++
		}
	}
	return w.b[start:w.i], nil
}

// array consumes an array starting at '['; its elements are at depth.
func (w *jsonWalker) array(depth int) error {
	w.i++ // '['
	w.skipSpace()
	if w.peek() == ']' {
		w.i++
		return nil
	}
	for {
		if _, err := w.value(depth); err != nil {
			return err
		}
		w.skipSpace()
		switch w.peek() {
		case ',':
			w.i++
		case ']':
			w.i++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// skipString consumes a string starting at its opening quote.
func (w *jsonWalker) skipString() {
	w.i++ // '"'
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case '\\':
			w.i += 2
		case '"':
			w.i++
			return
		default:
			w.i++
		}
	}
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// jsonString returns the value of the JSON string literal raw (with its
// quotes), decoded exactly as encoding/json decodes it: escapes resolved and
// invalid UTF-8 replaced by U+FFFD.
func jsonString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errJSONSyntax
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errJSONSyntax
	}
	return s, nil
}
