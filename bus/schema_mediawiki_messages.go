package bus

import "strings"

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
		x.Usernames = append(x.Usernames, PyLower(page))
	}
	if !x.Display() {
		return
	}
	x.URL = b.Get("diff_url").Str()
	x.Summary = "Wiki page " + PyStr(b.Get("title")) + " was edited by " + PyStr(user)
	x.Text = x.Summary + "\nSummary: " + PyStr(b.Get("summary")) + "\nPage: " + PyStr(b.Get("page_url")) +
		"\nDiff: " + PyStr(b.Get("diff_url")) + "\n"
}
