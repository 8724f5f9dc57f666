// Package notification defines the self-contained notification that the
// matcher publishes on NOTIFY and that the senders deliver, and renders its
// content per channel.
package notification

import "time"

// Notification is one message on notify.<channel>. A sender needs nothing
// else to deliver it.
type Notification struct {
	// ID is stable for (bus message id, channel, address); it is also the
	// Nats-Msg-Id of the NOTIFY message, so a re-match publishes no duplicate.
	ID        string    `json:"id"`
	MessageID string    `json:"message_id"`
	Topic     string    `json:"topic"`
	Protocol  string    `json:"protocol"`
	Address   string    `json:"address"`
	User      string    `json:"user"`
	RuleID    int64     `json:"rule_id"`  // the rule named in the footer (lowest id)
	RuleIDs   []int64   `json:"rule_ids"` // every rule that produced it, for the statistics
	App       string    `json:"app,omitempty"`
	Severity  int       `json:"severity"`
	SentAt    time.Time `json:"sent_at"`
	Summary   string    `json:"summary"`
	Text      string    `json:"text,omitempty"`
	URL       string    `json:"url,omitempty"`
	CreatedAt time.Time `json:"created_at"`

	// Meta is set for protocol email, whose metadata headers carry it.
	Meta *Meta `json:"meta,omitempty"`
	// Email is set for protocol email.
	Email *Email `json:"email,omitempty"`
	// Line is the one-line form for IRC and Matrix.
	Line string `json:"line,omitempty"`
}

// Email is a rendered email, without From (the sender's configuration).
type Email struct {
	// Subject is one line, not yet RFC 2047-encoded.
	Subject string `json:"subject"`
	// Body is plain text with "\n" line ends.
	Body string `json:"body"`
	// Headers maps header names, spelled as they go on the wire
	// ("Message-ID", not "Message-Id"), to one-line values.
	Headers map[string]string `json:"headers"`
	// PatchURL is a patch the email sender fetches and appends to the body
	// before the signature, as FMN does for dist-git pushes ("" for none).
	PatchURL string `json:"patch_url,omitempty"`
}

// SignatureSeparator starts the footer of every email body ("-- " on a
// line of its own, RFC 3676), the place where a patch goes before.
const SignatureSeparator = "\n\n-- \n"

// Meta is what the bus message is about, for the email headers people
// filter on (as the old FMN's X-Fedmsg-* headers): the agent and, of each
// kind of name, at most MaxMetaNames, sorted. A Num field holds the full
// number of names of its kind when the list was cut, and is 0 otherwise.
// Every value is one line of at most MaxMetaName characters.
type Meta struct {
	Agent         string   `json:"agent,omitempty"`
	Usernames     []string `json:"usernames,omitempty"`
	Groups        []string `json:"groups,omitempty"`
	Packages      []string `json:"packages,omitempty"`
	Containers    []string `json:"containers,omitempty"`
	Modules       []string `json:"modules,omitempty"`
	Flatpaks      []string `json:"flatpaks,omitempty"`
	NumUsernames  int      `json:"num_usernames,omitempty"`
	NumGroups     int      `json:"num_groups,omitempty"`
	NumPackages   int      `json:"num_packages,omitempty"`
	NumContainers int      `json:"num_containers,omitempty"`
	NumModules    int      `json:"num_modules,omitempty"`
	NumFlatpaks   int      `json:"num_flatpaks,omitempty"`
}
