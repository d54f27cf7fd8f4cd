// Package b64 decodes base64 as the reference server does, with its error texts.
package b64

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Decode decodes standard, padded base64 the way the reference does
// (Rust's base64 crate, STANDARD engine): padding must be canonical, the
// unused bits of the last symbol must be zero, and whitespace is not
// skipped. On failure it returns the crate's error text, such as "Invalid
// symbol 33, offset 0.", which the reference puts in its error message.
func Decode(s string) ([]byte, string) {
	// encoding/base64 skips '\r' and '\n'; the reference does not. Otherwise
	// the strict decoder accepts exactly what the crate accepts.
	if strings.IndexByte(s, '\n') < 0 && strings.IndexByte(s, '\r') < 0 {
		out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Strict().Decode(out, []byte(s))
		if err == nil {
			return out[:n], ""
		}
	}
	if msg := base64Error(s); msg != "" {
		return nil, msg
	}
	// Not reached for any input we know of: both decoders disagree.
	return nil, "Invalid padding"
}

// b64Value maps a byte to its 6-bit value, or -1.
func b64Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}

func invalidSymbol(c byte, off int) string {
	return "Invalid symbol " + strconv.Itoa(int(c)) + ", offset " + strconv.Itoa(off) + "."
}

// base64Error reports the first error the crate's decoder would report for
// s, in the order it checks: a stray last byte, then every complete quad
// but the last, left to right, then the final (possibly padded) quad. It
// returns "" if s is valid.
func base64Error(s string) string {
	n := len(s)
	rem := n % 4
	if rem == 1 {
		if c := s[n-1]; c != '=' && b64Value(c) < 0 {
			return invalidSymbol(c, n-1)
		}
	}
	body := n - rem
	if rem == 0 {
		body -= 4
	}
	if body < 0 {
		body = 0
	}
	for i := 0; i < body; i++ {
		if b64Value(s[i]) < 0 { // '=' included: padding only at the end
			return invalidSymbol(s[i], i)
		}
	}
	// The suffix: at most four bytes.
	var morsels [4]int
	nm, pads, firstPad := 0, 0, 0
	var last byte
	for k := 0; body+k < n; k++ {
		c := s[body+k]
		if c == '=' {
			if k < 2 {
				return invalidSymbol(c, body+k)
			}
			if pads == 0 {
				firstPad = k
			}
			pads++
			continue
		}
		if pads > 0 {
			return invalidSymbol('=', body+firstPad)
		}
		v := b64Value(c)
		if v < 0 {
			return invalidSymbol(c, body+k)
		}
		last = c
		morsels[nm] = v
		nm++
	}
	if n > 0 && nm < 2 {
		return "Invalid input length: " + strconv.Itoa(body+nm)
	}
	if (pads+nm)%4 != 0 {
		return "Invalid padding"
	}
	bytes := nm * 6 / 8
	bits := uint32(morsels[0])<<26 | uint32(morsels[1])<<20 | uint32(morsels[2])<<14 | uint32(morsels[3])<<8
	if mask := ^uint32(0) >> (bytes * 8); bits&mask != 0 {
		return "Invalid last symbol " + strconv.Itoa(int(last)) + ", offset " + strconv.Itoa(body+nm-1) + "."
	}
	return ""
}
