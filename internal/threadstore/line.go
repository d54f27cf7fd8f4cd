package threadstore

import (
	"bytes"
	"hash/crc32"
	"strconv"
)

// Every file of the store is made of lines "<crc> <body>\n", where <crc> is
// the CRC-32C (Castagnoli) of <body> as 8 lowercase hex digits. A body never
// contains '\n' (records and metadata are compact JSON). A line whose
// checksum does not match, or a last line without its '\n', was torn by a
// crash or corrupted on disk; it is never misread as data.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	hexDigits = "0123456789abcdef"
	crcLen    = 8 // hex digits
	// minLine is the shortest line: the checksum, a space and a one-byte body.
	minLine = crcLen + 2
)

func appendCRC(dst []byte, c uint32) []byte {
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(c>>uint(shift))&0xf])
	}
	return append(dst, ' ')
}

// appendLine appends "<crc> <body>\n" to dst.
func appendLine(dst, body []byte) []byte {
	dst = appendCRC(dst, crc32.Checksum(body, castagnoli))
	dst = append(dst, body...)
	return append(dst, '\n')
}

// appendRecordLine appends the thread-log line "<crc> <seq> <rec>\n" without
// building the body separately.
func appendRecordLine(dst []byte, seq uint64, rec []byte) []byte {
	var num [24]byte
	n := strconv.AppendUint(num[:0], seq, 10)
	n = append(n, ' ')
	c := crc32.Update(0, castagnoli, n)
	c = crc32.Update(c, castagnoli, rec)
	dst = appendCRC(dst, c)
	dst = append(dst, n...)
	dst = append(dst, rec...)
	return append(dst, '\n')
}

// checkLine verifies a line (without its '\n') and returns its body.
func checkLine(line []byte) ([]byte, bool) {
	if len(line) < minLine || line[crcLen] != ' ' {
		return nil, false
	}
	var want uint32
	for _, b := range line[:crcLen] {
		switch {
		case '0' <= b && b <= '9':
			want = want<<4 | uint32(b-'0')
		case 'a' <= b && b <= 'f':
			want = want<<4 | uint32(b-'a'+10)
		default:
			return nil, false
		}
	}
	body := line[crcLen+1:]
	if crc32.Checksum(body, castagnoli) != want {
		return nil, false
	}
	return body, true
}

// parseRecordBody splits a thread-log body "<seq> <rec>".
func parseRecordBody(body []byte) (seq uint64, rec []byte, ok bool) {
	sp := bytes.IndexByte(body, ' ')
	if sp <= 0 || sp > 20 || sp == len(body)-1 {
		return 0, nil, false
	}
	seq, ok = parseUint(body[:sp])
	if !ok || seq == 0 {
		return 0, nil, false
	}
	return seq, body[sp+1:], true
}

// parseUint parses a decimal without sign, leading zeros or overflow.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// cutField returns the bytes before the first space and the rest after it.
func cutField(b []byte) (field, rest []byte, ok bool) {
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil, false
	}
	return b[:i], b[i+1:], true
}

// appendJournalLine appends a line whose body is prefix followed by payload,
// without joining them first.
func appendJournalLine(dst, prefix, payload []byte) []byte {
	c := crc32.Update(0, castagnoli, prefix)
	c = crc32.Update(c, castagnoli, payload)
	dst = appendCRC(dst, c)
	dst = append(dst, prefix...)
	dst = append(dst, payload...)
	return append(dst, '\n')
}
