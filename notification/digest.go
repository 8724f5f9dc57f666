package notification

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
)

// HeaderDigest carries the number of notifications in a digest email
// (contract).
const HeaderDigest = "X-Fedora-Messaging-Digest"

// Bounds of a digest.
const (
	// MaxDigestBody caps, in bytes, the part of a digest email that shows
	// the notifications' texts, as the old FMN did at 500,000 characters:
	// past it, the remaining notifications are named by their ids only,
	// with a link to the UI.
	MaxDigestBody = 500_000
	// MaxDigestLines caps the lines of a digest on IRC or Matrix; the
	// rest is counted on a last line with a link to the UI.
	MaxDigestLines = 20
)

// Digest builds the notification that delivers held, the notifications
// held for one destination in the order they were held, as one message.
// id identifies the digest (its Message-ID derives from it, so a resend
// of the same digest is recognisable); it must be non-empty. held must not
// be empty and must all go to the same protocol and address; the first
// one's fill the digest's user, protocol and address.
//
// Email: Subject "[<site>] N notifications" ("1 notification"), header
// X-Fedora-Messaging-Digest: N, the metadata headers of every held
// notification merged (Meta), and a body that lists "[app] summary"
// numbered, then gives each notification's text, URL and a line
// "ID: <bus message id>". Once the body passes MaxDigestBody the remaining
// notifications are given by their ID lines only, after a link to the UI.
//
// IRC and Matrix: Line holds one line per notification (its own line), up
// to MaxDigestLines, then "… and K more: <UI URL>", lines separated by
// "\n".
func Digest(id string, held []*Notification, site Site, now time.Time) *Notification {
	first := held[0]
	ui := strings.TrimRight(site.PublicURL, "/") + "/"
	var ruleIDs []int64
	for _, n := range held {
		ruleIDs = append(ruleIDs, n.RuleIDs...)
	}
	slices.Sort(ruleIDs)
	ruleIDs = slices.Compact(ruleIDs)
	d := &Notification{
		ID:        id,
		Protocol:  first.Protocol,
		Address:   first.Address,
		User:      first.User,
		RuleIDs:   ruleIDs,
		Severity:  first.Severity,
		SentAt:    now,
		Summary:   count(len(held)),
		URL:       ui,
		CreatedAt: now,
	}
	for _, n := range held {
		d.Severity = max(d.Severity, n.Severity)
	}
	if first.Protocol != rules.ProtocolEmail {
		d.Line = digestLines(held, ui)
		return d
	}

	var body strings.Builder
	body.WriteString(d.Summary + ":\n\n")
	for i, n := range held {
		body.WriteString(strconv.Itoa(i+1) + ". " + title(n) + "\n")
	}
	shown := len(held)
	for i, n := range held {
		if body.Len() >= MaxDigestBody {
			shown = i
			break
		}
		body.WriteString("\n\n" + strconv.Itoa(i+1) + ". " + title(n) + "\n\n")
		text := bodyText(n.Text)
		if strings.TrimSpace(text) == "" {
			text = strings.TrimSpace(oneLine(n.Summary))
		}
		body.WriteString(text + "\n")
		if u := strings.TrimSpace(oneLine(n.URL)); u != "" {
			body.WriteString(u + "\n")
		}
		body.WriteString("ID: " + oneLine(n.MessageID) + "\n")
	}
	if shown < len(held) {
		rest := len(held) - shown
		body.WriteString("\n\nThis digest is too long to show the other " + strconv.Itoa(rest) +
			" notifications; find them at " + ui + " by their ids:\n\n")
		for i, n := range held[shown:] {
			body.WriteString(strconv.Itoa(shown+i+1) + ". ID: " + oneLine(n.MessageID) + "\n")
		}
	}
	body.WriteString(SignatureSeparator + "Sent by " + oneLine(site.Name) + ": " + ui + "rules\n")

	d.Meta = mergeMeta(held)
	d.Email = &Email{
		Subject: headerValue("[" + site.Name + "] " + d.Summary),
		Body:    body.String(),
		Headers: map[string]string{
			HeaderDate:            now.Format(time.RFC1123Z),
			HeaderMessageID:       "<digest." + id + "@" + messageIDDomain(site.PublicURL) + ">",
			HeaderAutoSubmitted:   "auto-generated",
			HeaderPrecedence:      "bulk",
			HeaderListUnsubscribe: "<" + ui + "rules>",
			HeaderSeverity:        bus.SeverityName(d.Severity),
			HeaderDigest:          strconv.Itoa(len(held)),
		},
	}
	return d
}

// count is "N notifications" ("1 notification").
func count(n int) string {
	if n == 1 {
		return "1 notification"
	}
	return strconv.Itoa(n) + " notifications"
}

// title is a notification's "[app] summary" (its summary without an app).
func title(n *Notification) string {
	t := strings.TrimSpace(oneLine(n.Summary))
	if app := strings.TrimSpace(oneLine(n.App)); app != "" {
		t = "[" + app + "] " + t
	}
	return t
}

// digestLines is the line form of a digest.
func digestLines(held []*Notification, ui string) string {
	var b strings.Builder
	listed := min(len(held), MaxDigestLines)
	if len(held) > MaxDigestLines {
		listed = MaxDigestLines - 1 // the last line counts the rest
	}
	for _, n := range held[:listed] {
		line := strings.TrimSpace(oneLine(n.Line))
		if line == "" {
			line = strings.TrimSpace(title(n) + " " + oneLine(n.URL))
		}
		b.WriteString(line + "\n")
	}
	if rest := len(held) - listed; rest > 0 {
		b.WriteString("… and " + strconv.Itoa(rest) + " more: " + ui + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// mergeMeta merges the held notifications' metadata: every name of each
// kind, cut to MaxMetaNames with the full count as in one notification;
// the agent when they all share it.
func mergeMeta(held []*Notification) *Meta {
	m := &Meta{}
	var usernames, groups, packages, containers, modules, flatpaks []string
	var nums [6]int
	agent, agents := "", 0
	for _, n := range held {
		if n.Meta == nil {
			continue
		}
		if a := n.Meta.Agent; a != "" && a != agent {
			agent = a
			agents++
		}
		usernames = append(usernames, n.Meta.Usernames...)
		groups = append(groups, n.Meta.Groups...)
		packages = append(packages, n.Meta.Packages...)
		containers = append(containers, n.Meta.Containers...)
		modules = append(modules, n.Meta.Modules...)
		flatpaks = append(flatpaks, n.Meta.Flatpaks...)
		for i, v := range [...]int{n.Meta.NumUsernames, n.Meta.NumGroups, n.Meta.NumPackages,
			n.Meta.NumContainers, n.Meta.NumModules, n.Meta.NumFlatpaks} {
			nums[i] = max(nums[i], v)
		}
	}
	if agents == 1 {
		m.Agent = agent
	}
	// A notification whose list was cut names more than its list holds:
	// the merged count is at least its count.
	merge := func(names []string, num int) ([]string, int) {
		out, n := metaNames(names)
		if n > 0 || num > len(out) {
			n = max(n, num)
		}
		return out, n
	}
	m.Usernames, m.NumUsernames = merge(usernames, nums[0])
	m.Groups, m.NumGroups = merge(groups, nums[1])
	m.Packages, m.NumPackages = merge(packages, nums[2])
	m.Containers, m.NumContainers = merge(containers, nums[3])
	m.Modules, m.NumModules = merge(modules, nums[4])
	m.Flatpaks, m.NumFlatpaks = merge(flatpaks, nums[5])
	return m
}
