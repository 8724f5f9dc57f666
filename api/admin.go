package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/rulelog"
)

// AdminHandlers serve the admin routes; the middleware lets only members
// of the admin groups through (403).
type AdminHandlers struct{ s *Server }

// OptionalBool is a query parameter that may be absent.
type OptionalBool struct {
	Value bool
	Set   bool
}

// Receiver implements huma.ParamWrapper.
func (o *OptionalBool) Receiver() reflect.Value { return reflect.ValueOf(o).Elem().Field(0) }

// Schema implements huma.SchemaProvider: the parameter is a boolean.
func (o OptionalBool) Schema(huma.Registry) *huma.Schema { return &huma.Schema{Type: huma.TypeBoolean} }

// OnParamSet implements huma.ParamReactor.
func (o *OptionalBool) OnParamSet(isSet bool, _ any) { o.Set = isSet }

type adminRulesInput struct {
	Disabled OptionalBool `query:"disabled" doc:"Only disabled (true) or enabled (false) rules; absent: both."`
	Username string       `query:"username" maxLength:"255" doc:"Only this user's rules." example:"alice"`
	Limit    int          `query:"limit" minimum:"1" maximum:"5000" doc:"At most this many rules (a page); absent: every rule. A full page comes with a Link header to the next one." example:"200"`
	After    int64        `query:"after" minimum:"0" doc:"Only rules with a greater id: the last id of the previous page." example:"1234"`
}

// adminRuleList is a page of rules; Link is empty unless the page is full.
type adminRuleList struct {
	Link string `header:"Link" required:"false" doc:"RFC 8288 link to the next page, rel=\"next\": this request with after set to the last id. Only when limit is given and the page is full; the next page may be empty."`
	Body []Rule
}

type patchRuleInput struct {
	ID   int64 `path:"id" minimum:"1" doc:"The rule's id." example:"12"`
	Body RulePatch
}

type adminUsersInput struct {
	Search string `query:"search" maxLength:"64" doc:"Part of a username (case-insensitive); absent: every user." example:"ali"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"At most this many users."`
}

type adminUsersOutput struct{ Body []AdminUser }

func adminOp(id, method, path, summary, desc string) huma.Operation {
	o := op(id, method, path, summary, desc, "admin")
	o.Metadata = map[string]any{metaAdmin: true}
	o.Errors = append(o.Errors, http.StatusForbidden)
	return o
}

// Register adds the operations.
func (h *AdminHandlers) Register(api huma.API) {
	huma.Register(api, adminOp("admin-list-rules", http.MethodGet, "/admin/rules", "List every rule",
		"Every user's rules, by id, filtered by state and owner. With limit, one page of them: "+
			`a full page has a Link header (rel="next") to the next one, which is the same request with after=<last id>.`), h.rules)

	o := adminOp("admin-patch-rule", http.MethodPatch, "/admin/rules/{id}", "Disable or enable a rule",
		`Sets a rule's disabled state through an event; {} changes nothing. Returns the rule.`)
	o.MaxBodyBytes = 1 << 10
	o.Errors = append(o.Errors, http.StatusNotFound, http.StatusConflict)
	huma.Register(api, o, h.patch)

	huma.Register(api, adminOp("admin-list-users", http.MethodGet, "/admin/users", "List users",
		"The users fmn knows (everyone who logged in or has a rule), by name."), h.users)

	h.registerDefaults(api)
}

func (h *AdminHandlers) rules(ctx context.Context, in *adminRulesInput) (*adminRuleList, error) {
	f := rulelog.RuleFilter{After: in.After, Limit: in.Limit}
	if in.Disabled.Set {
		f.Disabled = &in.Disabled.Value
	}
	if in.Username != "" {
		f.User = &in.Username
	}
	list, err := h.s.store.Rules(ctx, f)
	if err != nil {
		return nil, h.s.readError(ctx, err, "rules")
	}
	out := &adminRuleList{Body: rulesOut(list)}
	if in.Limit > 0 && len(list) == in.Limit {
		out.Link = nextRulesLink(in, list[len(list)-1].ID)
	}
	return out, nil
}

// nextRulesLink is the Link header of the page after the rule id last.
func nextRulesLink(in *adminRulesInput, last int64) string {
	q := url.Values{}
	if in.Disabled.Set {
		q.Set("disabled", strconv.FormatBool(in.Disabled.Value))
	}
	if in.Username != "" {
		q.Set("username", in.Username)
	}
	q.Set("limit", strconv.Itoa(in.Limit))
	q.Set("after", strconv.FormatInt(last, 10))
	return fmt.Sprintf(`<%s/admin/rules?%s>; rel="next"`, Prefix, q.Encode())
}

func (h *AdminHandlers) patch(ctx context.Context, in *patchRuleInput) (*ruleOne, error) {
	id, _ := identity(ctx)
	var (
		sr  rulelog.StoredRule
		err error
	)
	if in.Body.Disabled == nil {
		sr, err = h.s.store.Rule(ctx, in.ID)
	} else {
		sr, err = h.s.cmds.SetDisabled(ctx, in.ID, *in.Body.Disabled, h.s.meta(ctx, id))
	}
	if errors.Is(err, rulelog.ErrNotFound) {
		return nil, huma.Error404NotFound(fmt.Sprintf("There is no rule %d", in.ID))
	}
	if err != nil {
		return nil, h.s.commandError(ctx, err, sr.User.Name, in.ID)
	}
	return &ruleOne{ETag: etag(sr.Version), Body: ruleOut(sr)}, nil
}

func (h *AdminHandlers) users(ctx context.Context, in *adminUsersInput) (*adminUsersOutput, error) {
	users, err := h.s.store.SearchUsers(ctx, in.Search, in.Limit)
	if err != nil {
		return nil, h.s.readError(ctx, err, "users")
	}
	out := make([]AdminUser, len(users))
	for i, u := range users {
		out[i] = AdminUser{ID: u.ID, Name: u.Name, CreatedAt: u.CreatedAt}
	}
	return &adminUsersOutput{Body: out}, nil
}
