package irc

import (
	"strings"
	"unicode/utf8"
)

// message is one line from the server.
type message struct {
	Tags    string // IRCv3 tags, without the @: "account=alice;time=…"
	Source  string // nick!user@host or a server name, "" when absent
	Command string // upper case: PRIVMSG, 001, …
	Params  []string
}

// parseMessage splits a line (without CRLF) into its parts.
func parseMessage(line string) (message, bool) {
	var m message
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "@") {
		tags, rest, ok := strings.Cut(line[1:], " ")
		if !ok {
			return m, false
		}
		m.Tags = tags
		line = strings.TrimLeft(rest, " ")
	}
	if strings.HasPrefix(line, ":") {
		src, rest, ok := strings.Cut(line[1:], " ")
		if !ok {
			return m, false
		}
		m.Source = src
		line = strings.TrimLeft(rest, " ")
	}
	for line != "" {
		if strings.HasPrefix(line, ":") {
			m.Params = append(m.Params, line[1:])
			break
		}
		var p string
		p, line, _ = strings.Cut(line, " ")
		line = strings.TrimLeft(line, " ")
		if m.Command == "" {
			m.Command = strings.ToUpper(p)
		} else {
			m.Params = append(m.Params, p)
		}
	}
	return m, m.Command != ""
}

// Param is the i-th parameter, or "".
func (m message) Param(i int) string {
	if i < len(m.Params) {
		return m.Params[i]
	}
	return ""
}

// Trailing is the last parameter, or "".
func (m message) Trailing() string {
	if len(m.Params) == 0 {
		return ""
	}
	return m.Params[len(m.Params)-1]
}

// Tag is the value of the IRCv3 tag name, unescaped, and whether the
// message has it.
func (m message) Tag(name string) (string, bool) {
	for t := range strings.SplitSeq(m.Tags, ";") {
		k, v, _ := strings.Cut(t, "=")
		if k == name {
			return unescapeTag(v), true
		}
	}
	return "", false
}

// unescapeTag undoes IRCv3's escaping of tag values.
func unescapeTag(v string) string {
	if !strings.Contains(v, "\\") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(v) {
			break
		}
		switch v[i] {
		case ':':
			b.WriteByte(';')
		case 's':
			b.WriteByte(' ')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// Nick is the nick part of the source.
func (m message) Nick() string {
	n, _, _ := strings.Cut(m.Source, "!")
	return n
}

// cleanText makes a notification's line one safe PRIVMSG text: line
// breaks become spaces, NUL and the CTCP delimiter go, invalid UTF-8
// becomes U+FFFD.
func cleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\r', '\n':
			return ' '
		case 0, 1:
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return strings.TrimSpace(s)
}

// splitText cuts text into pieces of at most limit bytes, never inside a
// UTF-8 sequence, preferably at a space in the second half of a piece so
// that words (and URLs) stay whole.
func splitText(text string, limit int) []string {
	limit = max(limit, utf8.UTFMax)
	var out []string
	for len(text) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		if cut == 0 {
			cut = limit // not UTF-8 at all: cut anywhere rather than loop
		}
		if sp := strings.LastIndexByte(text[:cut], ' '); sp >= limit/2 {
			cut = sp
		}
		out = append(out, strings.TrimRight(text[:cut], " "))
		text = strings.TrimLeft(text[cut:], " ")
	}
	if text != "" {
		out = append(out, text)
	}
	return out
}
