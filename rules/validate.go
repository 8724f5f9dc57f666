package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the size of a rule. They bound the work matching does per rule
// and per message, and the size of what a client can make the server store.
const (
	MaxNameLen         = 255 // runes in a rule name
	MaxParams          = 100 // tracking rule params
	MaxGenerationRules = 20
	MaxDestinations    = 20  // per generation rule
	MaxFilterValues    = 100 // entries of applications / excluded_applications
	MaxAccountNameLen  = 64  // a username or group name
	MaxAgentLen        = 255 // a followed agent (a username, an OpenID URL, an email address)
	MaxArtifactNameLen = 255
	MaxAppNameLen      = 100
	MaxTopicLen        = 255
	MaxEmailLen        = 254 // RFC 5321 path limit
	MaxIRCNickLen      = 32
	MaxMatrixIDLen     = 255 // Matrix spec limit on user ids

	maxErrors = 50 // errors reported at most; the rest are counted
)

// The vocabularies of the rule JSON, in the order error messages list them.
var (
	TrackingRuleNames = []string{TrackArtifactsOwned, TrackArtifactsGroupOwned, TrackArtifactsFollowed, TrackRelatedEvents, TrackUsersFollowed}
	ArtifactTypes     = []string{ArtifactRPMs, ArtifactContainers, ArtifactModules, ArtifactFlatpaks}
	Protocols         = []string{ProtocolEmail, ProtocolIRC, ProtocolMatrix, ProtocolSSE}
	SeverityNames     = []string{"debug", "info", "warning", "error"}
)

// FieldError is one problem with a rule. Location is the path of the
// offending value in the rule's JSON, e.g. "tracking_rule.params[0].type" or
// "generation_rules[0].destinations[1].address" (prefix "body." for an
// RFC 9457 error detail); it is empty for a problem with the rule as a
// whole. Message is meant for the person who wrote the rule: it quotes the
// offending value (escaped and cut short) and says what is expected.
type FieldError struct {
	Location string `json:"location"`
	Message  string `json:"message"`
}

func (e FieldError) Error() string {
	if e.Location == "" {
		return e.Message
	}
	return e.Location + ": " + e.Message
}

// ValidationErrors lists every problem Validate found, in document order.
type ValidationErrors []FieldError

func (e ValidationErrors) Error() string {
	msgs := make([]string, len(e))
	for i, fe := range e {
		msgs[i] = fe.Error()
	}
	return "invalid rule: " + strings.Join(msgs, "; ")
}

// Validate checks a rule as a client submitted it and returns nil or a
// ValidationErrors listing every problem found (at most 50, then a count).
// It checks what the client controls: name, tracking rule, generation rules,
// destinations and filters. ID, User, Disabled and GeneratedLastWeek are the
// server's and are not checked. Validate does not know whose addresses the
// destinations are: the API checks that against the user's account. The
// one exception is an sse destination, the owner's live feed: its address
// must be the owner's username, checked here when r.User.Name is set.
func Validate(r *Rule) error {
	v := &validator{owner: r.User.Name}
	// A name is optional (FMN since #805): an empty one is no name.
	v.text("name", "name", r.Name, MaxNameLen)
	v.tracking(&r.TrackingRule)
	v.generationRules(r.GenerationRules)
	if v.dropped > 0 {
		v.errs = append(v.errs, FieldError{Message: fmt.Sprintf("and %d more problems", v.dropped)})
	}
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

type validator struct {
	errs    ValidationErrors
	dropped int
	owner   string // the rule's owner, "" when not known yet
}

func (v *validator) add(loc, format string, args ...any) {
	if len(v.errs) >= maxErrors {
		v.dropped++
		return
	}
	v.errs = append(v.errs, FieldError{Location: loc, Message: fmt.Sprintf(format, args...)})
}

// quote renders a client's value safely for a message: escaped, so control
// characters show, and cut to 40 characters.
func quote(s string) string {
	const limit = 40
	n := 0
	for i := range s {
		if n == limit {
			return strconv.Quote(s[:i]) + "…"
		}
		n++
	}
	return strconv.Quote(s)
}

// text checks what every string a client sends must satisfy: valid UTF-8,
// no control characters, at most limit characters. It reports the first
// problem and returns false.
func (v *validator) text(loc, what, s string, limit int) bool {
	if len(s) > limit*utf8.UTFMax || utf8.RuneCountInString(s) > limit {
		v.add(loc, "%s is too long (%d characters; at most %d)", what, utf8.RuneCountInString(s), limit)
		return false
	}
	if !utf8.ValidString(s) {
		v.add(loc, "%s %s is not valid UTF-8", what, quote(s))
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			v.add(loc, "%s %s contains a control character (%U)", what, quote(s), r)
			return false
		}
	}
	return true
}

func (v *validator) tracking(tr *TrackingRule) {
	const loc = "tracking_rule.params"
	switch tr.Name {
	case TrackArtifactsOwned:
		v.nameList(loc, tr, "username")
	case TrackUsersFollowed:
		v.agentList(loc, tr)
	case TrackArtifactsGroupOwned:
		v.nameList(loc, tr, "group name")
	case TrackArtifactsFollowed:
		v.followedArtifacts(loc, tr)
	case TrackRelatedEvents:
		if p := bytes.TrimSpace(tr.Params); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
			v.add(loc, "%s takes no params (it follows your own username); send null or leave params out", tr.Name)
		}
	case "":
		v.add("tracking_rule.name", "a tracking rule is required; valid names: %s", strings.Join(TrackingRuleNames, ", "))
	default:
		v.add("tracking_rule.name", "unknown tracking rule %s; valid names: %s", quote(tr.Name), strings.Join(TrackingRuleNames, ", "))
	}
}

// jsonKind names the JSON type of raw for messages.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// paramList decodes params as a non-empty JSON list within the size limit,
// or reports why it is not one and returns false. what names an element
// ("username"), example shows the expected shape.
func (v *validator) paramList(loc string, tr *TrackingRule, what, example string) ([]json.RawMessage, bool) {
	var list []json.RawMessage
	switch k := jsonKind(tr.Params); k {
	case "a list":
	case "nothing":
		v.add(loc, "%s needs params: a list of %ss, e.g. %s", tr.Name, what, example)
		return nil, false
	default:
		v.add(loc, "%s needs a list of %ss, e.g. %s; got %s", tr.Name, what, example, k)
		return nil, false
	}
	if err := json.Unmarshal(tr.Params, &list); err != nil {
		v.add(loc, "%s needs a list of %ss, e.g. %s; the list is not valid JSON", tr.Name, what, example)
		return nil, false
	}
	switch {
	case len(list) == 0:
		v.add(loc, "%s needs at least one %s, e.g. %s", tr.Name, what, example)
		return nil, false
	case len(list) > MaxParams:
		v.add(loc, "too many params (%d; at most %d)", len(list), MaxParams)
		return nil, false
	}
	return list, true
}

func (v *validator) nameList(loc string, tr *TrackingRule, what string) {
	list, ok := v.paramList(loc, tr, what, `["alice"]`)
	if !ok {
		return
	}
	for i, raw := range list {
		eloc := fmt.Sprintf("%s[%d]", loc, i)
		var s string
		if k := jsonKind(raw); k != "a string" {
			v.add(eloc, "each param of %s must be a %s (a string), got %s", tr.Name, what, k)
			continue
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			v.add(eloc, "each param of %s must be a %s (a string)", tr.Name, what)
			continue
		}
		v.accountName(eloc, what, s)
	}
}

// agentList checks the params of users-followed: agents as messages name
// them. Most are FAS usernames, but not all: Anitya's agents are OpenID
// URLs (http://alice.id.fedoraproject.org/) or email addresses, which FMN
// users follow too. So any text without spaces or control characters is
// accepted; it is compared with the message's agent exactly.
func (v *validator) agentList(loc string, tr *TrackingRule) {
	list, ok := v.paramList(loc, tr, "username", `["alice"]`)
	if !ok {
		return
	}
	for i, raw := range list {
		eloc := fmt.Sprintf("%s[%d]", loc, i)
		var s string
		if k := jsonKind(raw); k != "a string" {
			v.add(eloc, "each param of %s must be a username (a string), got %s", tr.Name, k)
			continue
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			v.add(eloc, "each param of %s must be a username (a string)", tr.Name)
			continue
		}
		if !v.text(eloc, "username", s, MaxAgentLen) {
			continue
		}
		switch {
		case strings.TrimSpace(s) == "":
			v.add(eloc, "username must not be empty")
		case strings.ContainsFunc(s, unicode.IsSpace):
			v.add(eloc, "username %s is not valid: a username or agent has no spaces (one person per entry)", quote(s))
		}
	}
}

// accountName checks a username or group name. A "/" gets its own message:
// FMN accepted "rpms/foo" as a group (its bug #1234), and people copy that.
func (v *validator) accountName(loc, what, s string) {
	if !v.text(loc, what, s, MaxAccountNameLen) {
		return
	}
	switch {
	case s == "":
		v.add(loc, "%s must not be empty", what)
	case strings.Contains(s, "/"):
		v.add(loc, "%s %s must be a plain name, without %q", what, quote(s), "/")
	case !isAccountName(s):
		v.add(loc, "%s %s is not valid: use letters, digits, %q, %q and %q, and do not start with %q", what, quote(s), ".", "_", "-", "-")
	}
}

// isAccountName accepts FASJSON/IPA-style user and group names: ASCII
// letters, digits, ".", "_" and "-", not starting with "-".
func isAccountName(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isASCIIAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// legacyArtifactTypes maps the singular types of older FMN clients to a
// hint; they are refused so that a stored rule has one spelling.
var legacyArtifactTypes = map[string]string{
	"package": ArtifactRPMs, "packages": ArtifactRPMs, "rpm": ArtifactRPMs,
	"container": ArtifactContainers, "module": ArtifactModules, "flatpak": ArtifactFlatpaks,
}

func (v *validator) followedArtifacts(loc string, tr *TrackingRule) {
	list, ok := v.paramList(loc, tr, "artifact", `[{"name": "firefox", "type": "rpms"}]`)
	if !ok {
		return
	}
	for i, raw := range list {
		eloc := fmt.Sprintf("%s[%d]", loc, i)
		if k := jsonKind(raw); k != "an object" {
			v.add(eloc, `each param of %s must be an object {"name", "type"}, got %s`, tr.Name, k)
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			v.add(eloc, `each param of %s must be an object {"name", "type"}`, tr.Name)
			continue
		}
		for _, f := range slices.Sorted(maps.Keys(fields)) {
			if f != "name" && f != "type" {
				v.add(eloc, "unknown field %s; an artifact has only %q and %q", quote(f), "name", "type")
			}
		}
		if s, ok := v.stringField(eloc+".name", "name", fields); ok {
			v.artifactName(eloc+".name", s)
		}
		if s, ok := v.stringField(eloc+".type", "type", fields); ok {
			v.artifactType(eloc+".type", s)
		}
	}
}

func (v *validator) stringField(loc, name string, fields map[string]json.RawMessage) (string, bool) {
	raw, ok := fields[name]
	if !ok && name == "type" {
		v.add(loc, "%q is required; valid types: %s", name, strings.Join(ArtifactTypes, ", "))
		return "", false
	}
	if !ok {
		v.add(loc, "%q is required", name)
		return "", false
	}
	if k := jsonKind(raw); k != "a string" {
		v.add(loc, "%q must be a string, got %s", name, k)
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		v.add(loc, "%q must be a string", name)
		return "", false
	}
	return s, true
}

func (v *validator) artifactName(loc, s string) {
	if !v.text(loc, "artifact name", s, MaxArtifactNameLen) {
		return
	}
	switch {
	case s == "":
		v.add(loc, "artifact name must not be empty")
	case strings.Contains(s, "/"):
		v.add(loc, "artifact name %s must be the plain name, without the type and %q (set the type in %q)", quote(s), "/", "type")
	case strings.IndexFunc(s, unicode.IsSpace) >= 0:
		v.add(loc, "artifact name %s must not contain spaces", quote(s))
	}
}

func (v *validator) artifactType(loc, s string) {
	if artifactKind(s) != 0 {
		return
	}
	hint := ""
	if t, ok := legacyArtifactTypes[strings.ToLower(s)]; ok {
		hint = fmt.Sprintf(" (did you mean %q?)", t)
	}
	v.add(loc, "unknown artifact type %s; valid types: %s%s", quote(s), strings.Join(ArtifactTypes, ", "), hint)
}

func (v *validator) generationRules(grs []GenerationRule) {
	// At least one (DESIGN's contract: a rule has one or more generation
	// rules); a generation rule may have no destinations (FMN accepts it).
	switch {
	case len(grs) == 0:
		v.add("generation_rules", "the rule needs at least one generation rule (destinations and filters)")
		return
	case len(grs) > MaxGenerationRules:
		v.add("generation_rules", "too many generation rules (%d; at most %d)", len(grs), MaxGenerationRules)
		return
	}
	for i := range grs {
		loc := fmt.Sprintf("generation_rules[%d]", i)
		v.destinations(loc+".destinations", grs[i].Destinations)
		v.filters(loc+".filters", &grs[i].Filters)
	}
}

func (v *validator) destinations(loc string, ds []Destination) {
	// No destination is accepted, as FMN does: the generation rule sends
	// nothing.
	if len(ds) > MaxDestinations {
		v.add(loc, "too many destinations (%d; at most %d)", len(ds), MaxDestinations)
		return
	}
	for i, d := range ds {
		dloc := fmt.Sprintf("%s[%d]", loc, i)
		v.destination(dloc, d)
	}
}

func (v *validator) destination(loc string, d Destination) {
	aloc := loc + ".address"
	switch d.Protocol {
	case ProtocolEmail:
		if !v.text(aloc, "email address", d.Address, MaxEmailLen) {
			return
		}
		if !isEmail(d.Address) {
			v.add(aloc, "email address %s does not look like local@domain", quote(d.Address))
		}
	case ProtocolIRC:
		if !v.text(aloc, "IRC nick", d.Address, MaxIRCNickLen) {
			return
		}
		if !isIRCNick(d.Address) {
			v.add(aloc, "IRC nick %s is not valid: start with a letter or one of %s, then use letters, digits, %q and those characters", quote(d.Address), ircSpecials, "-")
		}
	case ProtocolMatrix:
		if !v.text(aloc, "Matrix address", d.Address, MaxMatrixIDLen) {
			return
		}
		if !isMatrixID(d.Address) {
			v.add(aloc, "Matrix address %s should be in the form @username:server.tld", quote(d.Address))
		}
	case ProtocolSSE:
		if !v.text(aloc, "username", d.Address, MaxAccountNameLen) {
			return
		}
		switch {
		case !isAccountName(d.Address):
			v.add(aloc, "the address of an sse destination is your username; %s is not a username", quote(d.Address))
		case v.owner != "" && d.Address != v.owner:
			v.add(aloc, "the address of an sse destination must be your own username %s, not %s", quote(v.owner), quote(d.Address))
		}
	case "":
		v.add(loc+".protocol", "protocol is required; valid protocols: %s", strings.Join(Protocols, ", "))
	default:
		v.add(loc+".protocol", "unknown protocol %s; valid protocols: %s", quote(d.Protocol), strings.Join(Protocols, ", "))
	}
}

// isEmail accepts a bare address local@domain: a dot-atom local part (no
// quoted strings, no display name) and a host name (no address literal).
func isEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !isASCIIAlnum(c) && !strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", rune(c)) {
			return false
		}
	}
	return isHostname(domain)
}

// isHostname accepts a DNS name (internationalised labels allowed) or an
// IPv4 address written as one.
func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				return false
			}
		}
	}
	return true
}

const ircSpecials = "[]\\`_^{|}"

// isIRCNick follows RFC 2812's nickname grammar, with the longer length
// modern networks allow.
func isIRCNick(s string) bool {
	if s == "" || len(s) > MaxIRCNickLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		special := strings.IndexByte(ircSpecials, c) >= 0
		if i == 0 && !letter && !special {
			return false
		}
		if !letter && !special && !('0' <= c && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}

// isMatrixID accepts a user id @localpart:server, where the server is a host
// name, an IPv4 address or a bracketed IPv6 address, with an optional port.
func isMatrixID(s string) bool {
	if !strings.HasPrefix(s, "@") {
		return false
	}
	local, server, ok := strings.Cut(s[1:], ":")
	if !ok || local == "" || server == "" {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !isASCIIAlnum(c) && !strings.ContainsRune("._=-/+", rune(c)) {
			return false
		}
	}
	if strings.HasPrefix(server, "[") {
		end := strings.IndexByte(server, ']')
		if end < 0 {
			return false
		}
		if addr, err := netip.ParseAddr(server[1:end]); err != nil || !addr.Is6() {
			return false
		}
		rest := server[end+1:]
		return rest == "" || rest[0] == ':' && isPort(rest[1:])
	}
	host := server
	if i := strings.LastIndexByte(server, ':'); i >= 0 {
		host = server[:i]
		if !isPort(server[i+1:]) {
			return false
		}
	}
	return isHostname(host)
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	n, _ := strconv.Atoi(s)
	return n >= 1 && n <= 65535
}

func (v *validator) filters(loc string, f *Filters) {
	v.appList(loc+".applications", f.Applications)
	v.appList(loc+".excluded_applications", f.ExcludedApplications)
	if len(f.Severities) > len(SeverityNames)*4 {
		v.add(loc+".severities", "too many severities (%d); valid ones: %s", len(f.Severities), strings.Join(SeverityNames, ", "))
	} else {
		for i, s := range f.Severities {
			if severityBit(s) == 0 {
				v.add(fmt.Sprintf("%s.severities[%d]", loc, i), "unknown severity %s; valid ones: %s", quote(s), strings.Join(SeverityNames, ", "))
			}
		}
	}
	if f.Topic != nil && *f.Topic != "" {
		tloc := loc + ".topic"
		t := *f.Topic
		if !v.text(tloc, "topic", t, MaxTopicLen) {
			return
		}
		if strings.IndexFunc(t, unicode.IsSpace) >= 0 {
			v.add(tloc, "topic %s must not contain spaces", quote(t))
			return
		}
		if _, err := CompileGlob(t); err != nil {
			v.add(tloc, "topic %s is not a valid glob: %v", quote(t), err)
		}
	}
}

func (v *validator) appList(loc string, apps []string) {
	if len(apps) > MaxFilterValues {
		v.add(loc, "too many applications (%d; at most %d)", len(apps), MaxFilterValues)
		return
	}
	for i, a := range apps {
		aloc := fmt.Sprintf("%s[%d]", loc, i)
		if !v.text(aloc, "application name", a, MaxAppNameLen) {
			continue
		}
		if strings.TrimSpace(a) == "" {
			v.add(aloc, "application name must not be empty")
		}
	}
}
