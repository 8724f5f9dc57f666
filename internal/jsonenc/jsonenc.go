// Package jsonenc appends JSON strings byte for byte as encoding/json
// writes them, for the hand-written encoders of fmn's hottest answers (the
// notifications the matcher publishes, the rule lists the API serves):
// one string escaper, fast on the long plain runs those texts are made of.
package jsonenc

import "unicode/utf8"

// Escaping says which of <, > and & are escaped.
type Escaping bool

const (
	// HTML escapes <, > and & as \u003c, \u003e and \u0026: encoding/json's
	// default (json.Marshal).
	HTML Escaping = true
	// NoHTML leaves <, > and & as they are: json.Encoder with
	// SetEscapeHTML(false), as huma writes its answers.
	NoHTML Escaping = false
)

const hexDigits = "0123456789abcdef"

// safe marks the ASCII bytes a JSON string holds as they are, without and
// with HTML escaping.
var safe = func() (t [2][utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[0][c] = c != '"' && c != '\\'
		t[1][c] = t[0][c] && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// Eight bytes at a time: every byte of these words, and the high bit of
// each byte.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// safeRun returns the index of the first byte from i on that may need a
// closer look (not a safe ASCII byte), skipping eight safe bytes at a time.
func safeRun(s string, i int, esc Escaping) int {
	for i+8 <= len(s) {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		// A byte below 0x20, or equal to one of the escaped characters,
		// sets its high bit here; any byte from 0x80 on has it set already.
		m := (x - ones*0x20) | (x ^ ones*'"' - ones) | (x ^ ones*'\\' - ones)
		if esc {
			m |= (x ^ ones*'<' - ones) | (x ^ ones*'>' - ones) | (x ^ ones*'&' - ones)
		}
		if (m&^x|x)&highs != 0 {
			return i
		}
		i += 8
	}
	return i
}

// AppendString appends s as a JSON string, as encoding/json writes it: the
// short escapes \" \\ \b \f \n \r \t, \u00XX for the other control
// characters (and for <, > and & with HTML), \ufffd for each byte of
// invalid UTF-8, and U+2028 and U+2029 escaped.
func AppendString(dst []byte, s string, esc Escaping) []byte {
	table := &safe[0]
	if esc {
		table = &safe[1]
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		i = safeRun(s, i, esc)
		for i < len(s) && s[i] < utf8.RuneSelf && table[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
