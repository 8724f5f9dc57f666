package api

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/bus"
)

// MiscHandlers serve the applications and artifacts lists.
type MiscHandlers struct{ s *Server }

type artifactsInput struct {
	Names  []string `query:"names,explode" maxItems:"20" doc:"Artifact names or parts of them (repeat the parameter, or separate with commas)." example:"firefox"`
	Users  []string `query:"users,explode" maxItems:"20" doc:"Artifacts these users own." example:"alice"`
	Groups []string `query:"groups,explode" maxItems:"20" doc:"Artifacts these groups own." example:"python-packagers-sig"`
}

type artifactsOutput struct{ Body []Artifact }

// Register adds the operations.
func (h *MiscHandlers) Register(api huma.API) {
	o := op("list-applications", http.MethodGet, "/applications", "Applications",
		"The applications of the message schemas fmn knows (every schema package FMN v3 installs), as FMN lists "+
			"them: each schema's app name, or where it has none the first part of the schema name; one spelling "+
			"per name, sorted case-insensitively. No login needed.", "misc")
	o.Security = authOptional
	huma.Register(api, o, h.applications)

	o = op("list-artifacts", http.MethodGet, "/artifacts", "Find artifacts",
		"Artifacts of dist-git by name, and those owned by users or groups, sorted by name and type. No login needed.", "misc")
	o.Security = authOptional
	huma.Register(api, o, h.artifacts)
}

func (h *MiscHandlers) applications(ctx context.Context, _ *struct{}) (*namesOutput, error) {
	return &namesOutput{Body: bus.DefaultRegistry.Applications()}, nil
}

func (h *MiscHandlers) artifacts(ctx context.Context, in *artifactsInput) (*artifactsOutput, error) {
	q := ArtifactQuery{Names: trimList(in.Names), Users: trimList(in.Users), Groups: trimList(in.Groups)}
	if len(q.Names)+len(q.Users)+len(q.Groups) == 0 {
		return &artifactsOutput{Body: []Artifact{}}, nil
	}
	if h.s.accounts == nil {
		return nil, errNoAccounts("Artifacts")
	}
	arts, err := h.s.accounts.Artifacts(ctx, q)
	if err != nil {
		return nil, h.s.accountsError(ctx, err, "Artifacts")
	}
	out := make([]Artifact, 0, len(arts))
	for _, a := range arts {
		out = append(out, Artifact{Name: a.Name, Type: a.Type})
	}
	slices.SortFunc(out, func(a, b Artifact) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Type, b.Type)
	})
	out = slices.Compact(out)
	return &artifactsOutput{Body: out}, nil
}
