package bus

import (
	"strings"
	"unicode"
)

// mediawiki-messages 1.0.1 (fedora-infra/mediawiki-messages): edits of the
// Fedora wiki.

func init() {
	RegisterPackage(Package{Name: "mediawiki-messages", Version: "1.0.1", Source: "fedora-infra/mediawiki-messages",
		Schemas: []Schema{
			{Name: "wiki.article.edit.v1", Class: "mediawiki_messages.article:ArticleEditV1", App: "Wiki",
				Extract: mediawikiArticleEdit},
		}})
}

// mediawikiArticleEdit is ArticleEditV1. The agent is the editor; the
// usernames are the editor and, for a user page ("User:Name"), its user,
// lower-cased. The texts are str.format(**body): a key the body lacks
// (only in bodies the schema rejects, where Python raises KeyError) reads
// None.
func mediawikiArticleEdit(x *Extraction) {
	b := x.Body
	user := b.Get("user")
	x.Agent = user.Str()
	x.Usernames = Strs(user)
	title, _ := b.Get("title").StrOK()
	if page, ok := strings.CutPrefix(title, "User:"); ok && page != "" {
		x.Usernames = append(x.Usernames, mediawikiLower(page))
	}
	x.URL = b.Get("diff_url").Str()
	x.Summary = "Wiki page " + PyStr(b.Get("title")) + " was edited by " + PyStr(user)
	x.Text = x.Summary + "\nSummary: " + PyStr(b.Get("summary")) + "\nPage: " + PyStr(b.Get("page_url")) +
		"\nDiff: " + PyStr(b.Get("diff_url")) + "\n"
}

// mediawikiLower is Python's str.lower(): Go's simple lower-casing plus
// the full mappings Python applies, İ (U+0130) to "i̇" and a capital sigma
// ending a word to ς.
func mediawikiLower(s string) string {
	if !strings.ContainsAny(s, "\u0130\u03a3") {
		return strings.ToLower(s)
	}
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		switch r {
		case '\u0130':
			b.WriteString("i\u0307")
		case '\u03a3':
			if mediawikiFinalSigma(rs, i) {
				b.WriteRune('\u03c2')
			} else {
				b.WriteRune('\u03c3')
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// mediawikiFinalSigma is the Final_Sigma condition: a cased letter before
// (case-ignorable characters skipped) and none after.
func mediawikiFinalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && mediawikiCaseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !mediawikiCased(rs[j]) {
		return false
	}
	j = i + 1
	for j < len(rs) && mediawikiCaseIgnorable(rs[j]) {
		j++
	}
	return j == len(rs) || !mediawikiCased(rs[j])
}

func mediawikiCased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

func mediawikiCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', '\u00b7', '\u0387', '\u055f', '\u05f4', '\u2018', '\u2019', '\u2024', '\u2027',
		'\ufe13', '\ufe52', '\ufe55', '\uff07', '\uff0e', '\uff1a':
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
