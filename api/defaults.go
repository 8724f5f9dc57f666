package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// Default rules: the admins' rule templates that every new user gets once,
// when their record is created (DESIGN.md, "Delivery settings, digests and
// default rules").

// RuleTemplate is a default rule: a rule in the create shape whose
// destinations give only a protocol.
type RuleTemplate struct {
	Name            *string                  `json:"name,omitempty" nullable:"true" maxLength:"255" doc:"Optional (null or missing: no name)." example:"Events about me"`
	Disabled        bool                     `json:"disabled,omitempty" doc:"Create the rule disabled (default false)."`
	TrackingRule    TrackingRule             `json:"tracking_rule" doc:"As in a rule; in the params of artifacts-owned and users-followed, \"{me}\" stands for the user."`
	GenerationRules []TemplateGenerationRule `json:"generation_rules" minItems:"1" maxItems:"20"`
}

// TemplateGenerationRule is a generation rule of a template.
type TemplateGenerationRule struct {
	Destinations []TemplateDestination `json:"destinations" maxItems:"20" doc:"Each is the user's first address of that protocol in their account (sse: their live feed); one the user has no address of is left out, and a rule left without destinations is not created."`
	Filters      Filters               `json:"filters" required:"false" doc:"As in a rule."`
}

// TemplateDestination is a protocol; the address is each user's own.
type TemplateDestination struct {
	Protocol string `json:"protocol" enum:"email,irc,matrix,sse" example:"email"`
}

type defaultRulesOutput struct {
	ETag string `header:"ETag" doc:"The list's version; send it as If-Match to replace the list only if nobody else did. \"0\" for the shipped list."`
	Body []RuleTemplate
}

// The list's maxItems is rulelog.MaxDefaultRules: a new user's record and
// default rules are one atomic batch, bounded by the server's batch size.
type putDefaultRulesInput struct {
	IfMatch string         `header:"If-Match" required:"false" doc:"The ETag the change is based on (\"0\": no admin has set a list yet): 412 when the list has changed since."`
	Body    []RuleTemplate `maxItems:"50"`
}

func (h *AdminHandlers) registerDefaults(api huma.API) {
	huma.Register(api, adminOp("admin-get-default-rules", http.MethodGet, "/admin/default-rules", "The default rules of new users",
		`The rule templates every new user gets once, on the request that creates their record, as rules marked "origin": "default". `+
			`Until an admin sets a list, the shipped ones ("Events about me" and "Artifacts I own", by email; none with FMN_DEFAULT_RULES=off).`),
		h.defaultRules)
	o := adminOp("admin-put-default-rules", http.MethodPut, "/admin/default-rules", "Replace the default rules of new users",
		`Replaces the list (it replaces the shipped one too; [] gives new users no rule). Users recorded already keep their rules. `+
			`A template is a rule in the create shape whose destinations give only a protocol; "{me}" stands for the user in the params of artifacts-owned and users-followed.`)
	o.MaxBodyBytes = h.s.cfg.MaxBodyBytes
	o.Errors = append(o.Errors, http.StatusBadRequest, http.StatusPreconditionFailed, http.StatusUnprocessableEntity)
	huma.Register(api, o, h.putDefaultRules)
}

func (h *AdminHandlers) defaultRules(ctx context.Context, _ *struct{}) (*defaultRulesOutput, error) {
	d, err := h.s.defaultTemplates(ctx)
	if err != nil {
		return nil, h.s.readError(ctx, err, "default rules")
	}
	return &defaultRulesOutput{ETag: etag(d.Version), Body: templatesOut(d.Templates)}, nil
}

func (h *AdminHandlers) putDefaultRules(ctx context.Context, in *putDefaultRulesInput) (*defaultRulesOutput, error) {
	id, _ := identity(ctx)
	var err error
	// "0" is the version of the shipped list: no admin has set one.
	var expect *uint64
	if v := strings.TrimSpace(in.IfMatch); strings.Trim(strings.TrimPrefix(v, "W/"), `"`) == "0" {
		expect = new(uint64)
	} else if expect, err = ifMatch(v); err != nil {
		return nil, err
	}
	list := make([]rules.Rule, len(in.Body))
	for i, t := range in.Body {
		list[i] = t.toRule()
	}
	seq, err := h.s.cmds.SetDefaultRules(ctx, list, expect, h.s.meta(ctx, id))
	var te rulelog.TemplateError
	switch {
	case errors.As(err, &te):
		return nil, invalidAt(te, in.Body[te.Index], fmt.Sprintf("body[%d]", te.Index), fmt.Sprintf("Default rule %d is not valid: ", te.Index))
	case errors.Is(err, rulelog.ErrPreconditionFailed):
		return nil, huma.Error412PreconditionFailed("The default rules have changed since you read them (their ETag is no longer the one in If-Match): read them again and apply your change to them.")
	case err != nil:
		return nil, h.s.commandError(ctx, err, "the default rules", 0)
	}
	return &defaultRulesOutput{ETag: etag(seq), Body: templatesOut(list)}, nil
}

// defaultTemplates is the list of default rules in force: the admins', or
// the shipped one until they set one (none with FMN_DEFAULT_RULES=off).
func (s *Server) defaultTemplates(ctx context.Context) (rulelog.DefaultRules, error) {
	d, err := s.cmds.DefaultRules(ctx)
	if err != nil || d.Set {
		return d, err
	}
	d.Templates = []rules.Rule{}
	if s.cfg.ShippedDefaultRules {
		d.Templates = rules.ShippedTemplates()
	}
	return d, nil
}

// defaultRulesFor makes user's default rules from the templates in force
// and the addresses of their account. A user the account service does not
// know, or a server without one, gets the rules that need no address (the
// live feed); an account service that fails fails the call, so that the
// user's record waits for the next request rather than lose their rules.
func (s *Server) defaultRulesFor(ctx context.Context, user string) ([]rules.Rule, error) {
	d, err := s.defaultTemplates(ctx)
	if err != nil || len(d.Templates) == 0 {
		return nil, err
	}
	var own []rules.Destination
	if s.accounts != nil && needAddresses(d.Templates) {
		own, err = s.accounts.Destinations(ctx, user)
		switch {
		case errors.Is(err, ErrNoSuchAccount), errors.Is(err, ErrAccountsNotConfigured):
			own = nil
		case err != nil:
			return nil, fmt.Errorf("the addresses of %s: %w", user, err)
		}
	}
	var out []rules.Rule
	for i, t := range d.Templates {
		r, ok := rules.Instantiate(t, user, own)
		if !ok {
			s.log.InfoContext(ctx, "default rule left out: the user has no address of its protocols",
				slog.String("user", user), slog.Int("index", i))
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// needAddresses reports whether a template sends to a protocol whose
// address comes from the user's account (any but the live feed).
func needAddresses(templates []rules.Rule) bool {
	for _, t := range templates {
		for _, g := range t.GenerationRules {
			for _, d := range g.Destinations {
				if d.Protocol != rules.ProtocolSSE {
					return true
				}
			}
		}
	}
	return false
}

func (t *RuleTemplate) toRule() rules.Rule {
	n := NewRule{Name: t.Name, Disabled: t.Disabled, TrackingRule: t.TrackingRule, GenerationRules: make([]GenerationRule, len(t.GenerationRules))}
	for i, g := range t.GenerationRules {
		ds := make([]Destination, len(g.Destinations))
		for j, d := range g.Destinations {
			ds[j] = Destination{Protocol: d.Protocol}
		}
		n.GenerationRules[i] = GenerationRule{Destinations: ds, Filters: g.Filters}
	}
	return n.toRule()
}

func templatesOut(list []rules.Rule) []RuleTemplate {
	out := make([]RuleTemplate, len(list))
	for i, t := range list {
		r := ruleOut(rulelog.StoredRule{Rule: t})
		tt := RuleTemplate{Name: r.Name, Disabled: r.Disabled, TrackingRule: r.TrackingRule,
			GenerationRules: make([]TemplateGenerationRule, len(r.GenerationRules))}
		for j, g := range r.GenerationRules {
			ds := make([]TemplateDestination, len(g.Destinations))
			for k, d := range g.Destinations {
				ds[k] = TemplateDestination{Protocol: d.Protocol}
			}
			tt.GenerationRules[j] = TemplateGenerationRule{Destinations: ds, Filters: g.Filters}
		}
		out[i] = tt
	}
	return out
}
