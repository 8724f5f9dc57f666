package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/api/auth"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// RuleHandlers serve a user's own rules. Every change appends an event to
// RULES through rulelog.Commands and answers once the projection shows it.
type RuleHandlers struct{ s *Server }

type userPath struct {
	Username string `path:"username" maxLength:"255" doc:"The rules' owner: must be you." example:"alice"`
}

type ruleList struct {
	Body []Rule
}

type ruleOne struct {
	ETag     string `header:"ETag" doc:"The rule's version; send it as If-Match to change the rule only if nobody else did."`
	Location string `header:"Location" required:"false"`
	Body     Rule
}

type getRuleInput struct {
	Username    string `path:"username" maxLength:"255" doc:"The rule's owner: must be you." example:"alice"`
	ID          int64  `path:"id" minimum:"1" doc:"The rule's id." example:"12"`
	IfNoneMatch string `header:"If-None-Match" required:"false" doc:"An ETag: 304 when the rule still has it."`
}

type createRuleInput struct {
	Username string `path:"username" maxLength:"255" doc:"The rules' owner: must be you." example:"alice"`
	Body     NewRule
}

type updateRuleInput struct {
	Username string `path:"username" maxLength:"255" doc:"The rule's owner: must be you." example:"alice"`
	ID       int64  `path:"id" minimum:"1" doc:"The rule's id." example:"12"`
	IfMatch  string `header:"If-Match" required:"false" doc:"The ETag the change is based on: 412 when the rule has changed since. Without it the last writer wins."`
	Body     NewRule
}

type deleteRuleInput struct {
	Username string `path:"username" maxLength:"255" doc:"The rule's owner: must be you." example:"alice"`
	ID       int64  `path:"id" minimum:"1" doc:"The rule's id." example:"12"`
	IfMatch  string `header:"If-Match" required:"false" doc:"The ETag the deletion is based on: 412 when the rule has changed since."`
}

// Register adds the operations.
func (h *RuleHandlers) Register(api huma.API) {
	o := op("list-user-rules", http.MethodGet, "/users/{username}/rules", "List your rules",
		"Your rules, by id, each with the number of notifications it generated in the last week.", "users/rules")
	o.Errors = append(o.Errors, http.StatusForbidden)
	huma.Register(api, o, h.list)

	o = op("get-user-rule", http.MethodGet, "/users/{username}/rules/{id}", "Get one of your rules",
		"The rule, with its version as ETag.", "users/rules")
	o.Errors = append(o.Errors, http.StatusForbidden, http.StatusNotFound)
	huma.Register(api, o, h.get)

	o = op("create-user-rule", http.MethodPost, "/users/{username}/rules", "Create a rule",
		"Creates a rule and returns it as stored, with every filter present. The destinations must be your own "+
			"(see /users/{username}/destinations) unless you are an admin. The response comes once the rule is visible "+
			"to the next read; when the rule projection lags, 503 says so.", "users/rules")
	o.MaxBodyBytes = h.s.cfg.MaxBodyBytes
	o.Errors = append(o.Errors, http.StatusForbidden, http.StatusUnprocessableEntity, http.StatusConflict)
	huma.Register(api, o, h.create)

	o = op("update-user-rule", http.MethodPut, "/users/{username}/rules/{id}", "Replace one of your rules",
		"Replaces the rule. With If-Match, only if the rule still has that version (412 otherwise); without, the "+
			"last writer wins.", "users/rules")
	o.MaxBodyBytes = h.s.cfg.MaxBodyBytes
	o.Errors = append(o.Errors, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound,
		http.StatusPreconditionFailed, http.StatusUnprocessableEntity, http.StatusConflict)
	huma.Register(api, o, h.update)

	o = op("delete-user-rule", http.MethodDelete, "/users/{username}/rules/{id}", "Delete one of your rules",
		"Deletes the rule and answers 200 with the body null, as FMN does. With If-Match, only if the rule still has "+
			"that version (412 otherwise).", "users/rules")
	o.DefaultStatus = http.StatusOK
	o.Responses = map[string]*huma.Response{"200": {
		Description: "The rule is deleted; the body is null (FMN's answer).",
		Content:     map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{Type: "null"}}},
	}}
	o.Errors = append(o.Errors, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound,
		http.StatusPreconditionFailed, http.StatusConflict)
	huma.Register(api, o, h.delete)
}

func (h *RuleHandlers) list(ctx context.Context, in *userPath) (*ruleList, error) {
	if _, err := mustOwn(ctx, in.Username, "see"); err != nil {
		return nil, err
	}
	body, err := h.s.userRules(ctx, in.Username)
	if err != nil {
		return nil, h.s.readError(ctx, err, "rules")
	}
	return &ruleList{Body: body}, nil
}

// userRules is user's rules as GET /users/{u}/rules answers them: the
// cached answer while the user's answer version is the one it was read at,
// otherwise (and then cached) the rules read from PostgreSQL.
func (s *Server) userRules(ctx context.Context, user string) ([]Rule, error) {
	if c, ok := s.ruleLists.get(user); ok {
		v, err := s.store.UserAnswerVersion(ctx, user)
		if err != nil {
			return nil, err
		}
		if v.Same(c.v) {
			s.metrics.ruleListHits.Inc()
			return c.body, nil
		}
	}
	list, v, err := s.store.UserRulesVersioned(ctx, user)
	if err != nil {
		return nil, err
	}
	s.metrics.ruleListMisses.Inc()
	body := rulesOut(list)
	if v.Valid() {
		s.ruleLists.put(user, v, body)
	} else {
		s.ruleLists.drop(user)
	}
	return body, nil
}

func (h *RuleHandlers) get(ctx context.Context, in *getRuleInput) (*ruleOne, error) {
	if _, err := mustOwn(ctx, in.Username, "see"); err != nil {
		return nil, err
	}
	sr, err := h.ownRule(ctx, in.Username, in.ID)
	if err != nil {
		return nil, err
	}
	if in.IfNoneMatch != "" {
		if v, ok := parseETag(in.IfNoneMatch); ok && v == sr.Version {
			return nil, huma.ErrorWithHeaders(huma.Status304NotModified(), http.Header{"ETag": {etag(sr.Version)}})
		}
	}
	return &ruleOne{ETag: etag(sr.Version), Body: ruleOut(sr)}, nil
}

// ownRule reads rule id of user: 404 when it is missing or someone else's.
func (h *RuleHandlers) ownRule(ctx context.Context, user string, id int64) (rulelog.StoredRule, error) {
	sr, err := h.s.store.Rule(ctx, id)
	if err == nil && sr.User.Name != user {
		err = rulelog.ErrNotFound
	}
	if errors.Is(err, rulelog.ErrNotFound) {
		return sr, huma.Error404NotFound(fmt.Sprintf("%s has no rule %d", user, id))
	}
	if err != nil {
		return sr, h.s.readError(ctx, err, "rule")
	}
	return sr, nil
}

func (h *RuleHandlers) create(ctx context.Context, in *createRuleInput) (*ruleOne, error) {
	id, err := mustOwn(ctx, in.Username, "create")
	if err != nil {
		return nil, err
	}
	r := in.Body.toRule()
	if err := rules.Validate(&r); err != nil {
		return nil, validationError(err, in.Body)
	}
	if err := h.s.checkDestinations(ctx, id, in.Username, r, nil); err != nil {
		return nil, err
	}
	sr, err := h.s.cmds.Create(ctx, in.Username, r, h.s.meta(ctx, id))
	if err != nil {
		return nil, h.s.commandError(ctx, err, in.Username, 0)
	}
	return &ruleOne{
		ETag:     etag(sr.Version),
		Location: fmt.Sprintf("%s/users/%s/rules/%d", Prefix, in.Username, sr.ID),
		Body:     ruleOut(sr),
	}, nil
}

func (h *RuleHandlers) update(ctx context.Context, in *updateRuleInput) (*ruleOne, error) {
	id, err := mustOwn(ctx, in.Username, "change")
	if err != nil {
		return nil, err
	}
	ifMatch, err := ifMatch(in.IfMatch)
	if err != nil {
		return nil, err
	}
	r := in.Body.toRule()
	if err := rules.Validate(&r); err != nil {
		return nil, validationError(err, in.Body)
	}
	// Destinations the rule has already were checked when they were added
	// (or set by an admin): only new ones need the account service.
	cur, err := h.ownRule(ctx, in.Username, in.ID)
	if err != nil {
		return nil, err
	}
	var keep []rules.Destination
	for _, g := range cur.GenerationRules {
		keep = append(keep, g.Destinations...)
	}
	if err := h.s.checkDestinations(ctx, id, in.Username, r, keep); err != nil {
		return nil, err
	}
	sr, err := h.s.cmds.Update(ctx, in.Username, in.ID, r, ifMatch, h.s.meta(ctx, id))
	if err != nil {
		return nil, h.s.commandError(ctx, err, in.Username, in.ID)
	}
	return &ruleOne{ETag: etag(sr.Version), Body: ruleOut(sr)}, nil
}

// deleted is FMN's answer to a deletion: 200 and the JSON null.
type deleted struct {
	ContentType string `header:"Content-Type"`
	Body        []byte
}

func (h *RuleHandlers) delete(ctx context.Context, in *deleteRuleInput) (*deleted, error) {
	id, err := mustOwn(ctx, in.Username, "delete")
	if err != nil {
		return nil, err
	}
	ifMatch, err := ifMatch(in.IfMatch)
	if err != nil {
		return nil, err
	}
	if err := h.s.cmds.Delete(ctx, in.Username, in.ID, ifMatch, h.s.meta(ctx, id)); err != nil {
		return nil, h.s.commandError(ctx, err, in.Username, in.ID)
	}
	return &deleted{ContentType: "application/json", Body: []byte("null")}, nil
}

func (s *Server) meta(ctx context.Context, id auth.Identity) rulelog.Meta {
	return rulelog.Meta{Actor: id.Username, RequestID: requestID(ctx)}
}

// checkDestinations refuses destinations that are not the owner's own
// (FMN let anyone send notifications to strangers). Admins may set any;
// destinations in keep are accepted as they are.
func (s *Server) checkDestinations(ctx context.Context, id auth.Identity, owner string, r rules.Rule, keep []rules.Destination) error {
	if id.Admin {
		return nil
	}
	type loc struct{ g, d int }
	var fresh []loc
	for gi, g := range r.GenerationRules {
		for di, d := range g.Destinations {
			// The live feed is the owner's own by construction (its
			// address, the owner's name, is checked by rules.Validate).
			if d.Protocol == rules.ProtocolSSE && d.Address == owner {
				continue
			}
			if !containsDest(keep, d) {
				fresh = append(fresh, loc{gi, di})
			}
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if s.accounts == nil {
		return errNoAccounts("Cannot check that the destinations are yours")
	}
	own, err := s.accounts.Destinations(ctx, owner)
	if err != nil {
		return s.accountsError(ctx, err, "Your destinations")
	}
	var details []error
	first := ""
	for _, l := range fresh {
		d := r.GenerationRules[l.g].Destinations[l.d]
		if containsDest(own, d) {
			continue
		}
		msg := fmt.Sprintf("%s address %q is not one of yours; yours are: %s", d.Protocol, d.Address, describe(own))
		if first == "" {
			first = msg
		}
		details = append(details, &huma.ErrorDetail{
			Location: fmt.Sprintf("body.generation_rules[%d].destinations[%d].address", l.g, l.d),
			Message:  msg,
			Value:    d.Address,
		})
	}
	if len(details) == 0 {
		return nil
	}
	return huma.Error422UnprocessableEntity(
		"A rule may only send to your own addresses (your account's emails and chat nicks): "+first, details...)
}

// containsDest reports whether d is one of list: the same protocol and the
// same address, compared exactly once normalised (spaces trimmed, an
// email's domain in lower case). Case elsewhere counts: a Matrix ID or an
// email's local part in other case can be someone else's.
func containsDest(list []rules.Destination, d rules.Destination) bool {
	want := normalAddress(d)
	return slices.ContainsFunc(list, func(x rules.Destination) bool {
		return x.Protocol == d.Protocol && normalAddress(x) == want
	})
}

func normalAddress(d rules.Destination) string {
	a := strings.TrimSpace(d.Address)
	if d.Protocol == rules.ProtocolEmail {
		if i := strings.LastIndexByte(a, '@'); i >= 0 {
			a = a[:i] + strings.ToLower(a[i:])
		}
	}
	return a
}

func describe(ds []rules.Destination) string {
	if len(ds) == 0 {
		return "none (add an email or a chat nick to your account)"
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Protocol + " " + d.Address
	}
	return strings.Join(parts, ", ")
}

// etag renders a version as a strong ETag.
func etag(v uint64) string { return `"` + strconv.FormatUint(v, 10) + `"` }

// parseETag reads one ETag (quoted or bare, weak prefix tolerated). "0"
// is the version of delivery settings never set.
func parseETag(v string) (uint64, bool) {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "W/")
	v = strings.Trim(v, `"`)
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}

// ifMatch reads If-Match: nil when absent or "*" (any version of an
// existing rule), else the one version it names.
func ifMatch(v string) (*uint64, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "*" {
		return nil, nil
	}
	n, ok := parseETag(v)
	if !ok {
		return nil, huma.Error400BadRequest(fmt.Sprintf("If-Match must be one ETag of the rule as GET returned it, e.g. \"12\"; got %q", v),
			&huma.ErrorDetail{Location: "header.If-Match", Message: "not an ETag of this API", Value: v})
	}
	return &n, nil
}
