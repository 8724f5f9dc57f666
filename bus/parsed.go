package bus

import (
	"encoding/json"
	"time"
)

// Severity levels as fedora-messaging defines them.
const (
	SeverityDebug   = 10
	SeverityInfo    = 20
	SeverityWarning = 30
	SeverityError   = 40
)

// Parsed is what the matcher knows about one bus message: the fields the rules
// and the notification templates need, extracted once per message.
type Parsed struct {
	ID       string
	Topic    string
	Schema   string
	Severity int
	SentAt   time.Time

	// Usernames, Groups and the artifact lists come from the
	// fedora_messaging_<kind>_<name> headers or, when the headers carry none,
	// from the body lists of the generic extractor.
	Usernames  []string
	Groups     []string
	Packages   []string
	Containers []string
	Modules    []string
	Flatpaks   []string

	// Agent is the username of whoever caused the message ("" when unknown).
	Agent string
	// App is the application name ("" when unknown).
	App     string
	Summary string
	Text    string
	URL     string

	// Body is the message body as received (valid JSON, not copied), for
	// consumers that need more than the fields above, such as the project
	// of an ACL change message.
	Body json.RawMessage
}

// SeverityName maps a numeric severity to the rule filter's vocabulary.
func SeverityName(s int) string {
	switch {
	case s <= SeverityDebug:
		return "debug"
	case s <= SeverityInfo:
		return "info"
	case s <= SeverityWarning:
		return "warning"
	default:
		return "error"
	}
}
