package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"

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
		"Every user's rules, by id, filtered by state and owner."), h.rules)

	o := adminOp("admin-patch-rule", http.MethodPatch, "/admin/rules/{id}", "Disable or enable a rule",
		`Sets a rule's disabled state through an event; {} changes nothing. Returns the rule.`)
	o.MaxBodyBytes = 1 << 10
	o.Errors = append(o.Errors, http.StatusNotFound, http.StatusConflict)
	huma.Register(api, o, h.patch)

	huma.Register(api, adminOp("admin-list-users", http.MethodGet, "/admin/users", "List users",
		"The users fmn knows (everyone who logged in or has a rule), by name."), h.users)
}

func (h *AdminHandlers) rules(ctx context.Context, in *adminRulesInput) (*ruleList, error) {
	var f rulelog.RuleFilter
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
	return &ruleList{Body: rulesOut(list)}, nil
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
		out[i] = AdminUser{Name: u.Name, CreatedAt: u.CreatedAt}
	}
	return &adminUsersOutput{Body: out}, nil
}
