package main

import (
	"bytes"
	"encoding/json"
	"math"
)

// msgKind classifies one message received from a server.
type msgKind uint8

const (
	kindInvalid msgKind = iota // not an object, or no usable integer id
	kindResult                 // {"id":N,"result":...}
	kindError                  // {"id":N,"error":{"code":C,...}}
	kindServer                 // has "method": a notification or a server request
)

// codeMissing is the Code of a kindError whose error object has no integer "code".
const codeMissing = math.MinInt64

// scanned is what the hot path needs from a message: its kind, its integer id
// and, for errors, the error code.
type scanned struct {
	Kind msgKind
	ID   int64
	Code int64
}

// scanMessage extracts the top-level "id", the presence of "result" and
// "method", and "error"."code" from one JSON-RPC message without building
// any values. Keys may come in any order; a repeated key counts once, the
// last one wins (as with encoding/json into a map). For valid JSON the answer
// is exact; for anything else it is a best effort that never panics.
func scanMessage(b []byte) scanned {
	var (
		hasID, idOK   bool
		id            int64
		hasResult     bool
		hasMethod     bool
		errObj        bool
		code          int64 = codeMissing
		i                   = skipWS(b, 0)
		keyStart, end int
	)
	if i >= len(b) || b[i] != '{' {
		return scanned{}
	}
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) {
			return scanned{}
		}
		if b[i] == '}' {
			break
		}
		if b[i] == ',' {
			i = skipWS(b, i+1)
			if i >= len(b) {
				return scanned{}
			}
		}
		if b[i] != '"' {
			return scanned{}
		}
		keyStart = i
		end = skipString(b, i)
		if end < 0 {
			return scanned{}
		}
		key := keyName(b[keyStart:end])
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return scanned{}
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return scanned{}
		}
		valEnd := skipValue(b, i)
		if valEnd < 0 {
			return scanned{}
		}
		val := b[i:valEnd]
		switch key {
		case keyID:
			hasID = true
			id, idOK = parseInt(val)
		case keyResult:
			hasResult = true
		case keyMethod:
			hasMethod = true
		case keyError:
			errObj = val[0] == '{'
			code = codeMissing
			if errObj {
				code = scanErrorCode(val)
			}
		}
		i = valEnd
	}
	switch {
	case hasMethod:
		return scanned{Kind: kindServer, ID: id}
	case !hasID || !idOK:
		return scanned{}
	case errObj:
		return scanned{Kind: kindError, ID: id, Code: code}
	case hasResult:
		return scanned{Kind: kindResult, ID: id}
	}
	return scanned{}
}

// scanErrorCode returns the integer "code" member of the object obj
// (a complete, already delimited JSON object), or codeMissing.
func scanErrorCode(obj []byte) int64 {
	code := int64(codeMissing)
	i := 1
	for {
		i = skipWS(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return code
		}
		if obj[i] == ',' {
			i = skipWS(obj, i+1)
		}
		if i >= len(obj) || obj[i] != '"' {
			return code
		}
		end := skipString(obj, i)
		if end < 0 {
			return code
		}
		key := keyName(obj[i:end])
		i = skipWS(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return code
		}
		i = skipWS(obj, i+1)
		valEnd := skipValue(obj, i)
		if valEnd < 0 {
			return code
		}
		if key == keyCode {
			if c, ok := parseInt(obj[i:valEnd]); ok {
				code = c
			} else {
				code = codeMissing
			}
		}
		i = valEnd
	}
}

// Keys the scanner cares about.
const (
	keyOther = iota
	keyID
	keyResult
	keyError
	keyMethod
	keyCode
)

// keyName classifies a quoted key (quotes included) without allocating for
// keys without escapes, which is all real traffic; escaped keys are decoded.
func keyName(q []byte) int {
	inner := q[1 : len(q)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		var s string
		if json.Unmarshal(q, &s) != nil {
			return keyOther
		}
		inner = []byte(s)
	}
	switch string(inner) { // no allocation: conversion used only for comparison
	case "id":
		return keyID
	case "result":
		return keyResult
	case "error":
		return keyError
	case "method":
		return keyMethod
	case "code":
		return keyCode
	}
	return keyOther
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"',
// or -1 if it is unterminated.
func skipString(b []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		q := i + j
		// Count the backslashes right before the quote: an odd number
		// escapes it.
		n := 0
		for k := q - 1; k >= i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
}

// skipValue returns the index just past the JSON value starting at b[i],
// or -1 when the input ends first.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				if i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		// number, true, false, null
		start := i
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if i == start {
					return -1
				}
				return i
			}
			i++
		}
		return -1
	}
}

// parseInt parses a JSON integer literal (no fraction or exponent) that fits
// in an int64.
func parseInt(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	neg := v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}
