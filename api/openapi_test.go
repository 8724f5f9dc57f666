package api_test

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/stats"
)

// TestOpenAPI checks the served document: OpenAPI 3.1, every path of the
// design, and for every operation a summary, a unique id, typed request
// and response schemas, problem+json errors and its security requirement;
// every $ref resolves and every path parameter is declared.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.srv.RegisterStats(stats.NewReader(b.pg.Pool))
	r := b.do(t, "", http.MethodGet, "/api/v1/openapi.json", nil)
	expect(t, r, http.StatusOK)
	// FMN_OPENAPI_OUT=path writes the document, e.g. for the UI's types
	// (npm run gen:api in ui/).
	if out := os.Getenv("FMN_OPENAPI_OUT"); out != "" {
		if err := os.WriteFile(out, r.body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var doc map[string]any
	r.json(t, &doc)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v", doc["openapi"])
	}
	comps := doc["components"].(map[string]any)
	schemas := comps["schemas"].(map[string]any)
	schemes := comps["securitySchemes"].(map[string]any)
	if bearer, ok := schemes["bearer"].(map[string]any); !ok || bearer["type"] != "http" || bearer["scheme"] != "bearer" {
		t.Errorf("security schemes %v", schemes)
	}

	// Every $ref anywhere resolves.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				name, found := strings.CutPrefix(ref, "#/components/schemas/")
				if _, ok := schemas[name]; !found || !ok {
					t.Errorf("%s: $ref %s does not resolve", at, ref)
				}
			}
			for k, c := range x {
				walk(c, at+"/"+k)
			}
		case []any:
			for _, c := range x {
				walk(c, at)
			}
		}
	}
	walk(doc, "#")

	// typed says whether a schema says what it holds. Two properties are
	// free-form on purpose: a rule's tracking params, whose shape depends
	// on the tracking rule's name and which the server checks with messages
	// of its own (the description says which shapes), and huma's echo of an
	// offending value in an error detail.
	typed := func(s map[string]any) bool {
		if _, ok := s["$ref"]; ok {
			return true
		}
		_, ok := s["type"]
		if oneOf, isList := s["oneOf"].([]any); isList && len(oneOf) > 0 {
			ok = true // e.g. a problem's detail: a sentence or FMN's list
		}
		if anyOf, isList := s["anyOf"].([]any); isList && len(anyOf) > 0 {
			ok = true // e.g. a delivery setting's digest: an object or null
		}
		return ok
	}
	for name, s := range schemas {
		sm := s.(map[string]any)
		if !typed(sm) {
			t.Errorf("schema %s has no type", name)
		}
		props, _ := sm["properties"].(map[string]any)
		for p, ps := range props {
			pm := ps.(map[string]any)
			if !typed(pm) && !(name == "TrackingRule" && p == "params") && !(name == "ErrorDetail" && p == "value") && !(name == "FMNErrorDetail" && p == "input") {
				t.Errorf("schema %s.%s has no type: %v", name, p, pm)
			}
			if name == "TrackingRule" && p == "params" && !strings.Contains(pm["description"].(string), "group names") {
				t.Errorf("TrackingRule.params is not described: %v", pm)
			}
		}
	}

	paramRx := regexp.MustCompile(`\{([^}]+)\}`)
	ids := map[string]bool{}
	var ops []string
	for path, item := range doc["paths"].(map[string]any) {
		for method, o := range item.(map[string]any) {
			op := o.(map[string]any)
			key := strings.ToUpper(method) + " " + path
			ops = append(ops, key)
			if s, _ := op["summary"].(string); s == "" {
				t.Errorf("%s: no summary", key)
			}
			id, _ := op["operationId"].(string)
			if id == "" || ids[id] {
				t.Errorf("%s: operationId %q missing or not unique", key, id)
			}
			ids[id] = true
			sec, ok := op["security"].([]any)
			if !ok || len(sec) == 0 {
				t.Errorf("%s: no security requirement", key)
			} else if req := sec[0].(map[string]any); req["bearer"] == nil {
				t.Errorf("%s: security %v does not name the bearer scheme", key, sec)
			}
			declared := map[string]bool{}
			for _, p := range asList(op["parameters"]) {
				pm := p.(map[string]any)
				if !typed(pm["schema"].(map[string]any)) {
					t.Errorf("%s: parameter %v untyped", key, pm["name"])
				}
				if pm["in"] == "path" {
					declared[pm["name"].(string)] = true
				}
			}
			for _, m := range paramRx.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter %s not declared", key, m[1])
				}
			}
			if rb, ok := op["requestBody"].(map[string]any); ok {
				if !typed(content(t, key, rb, "application/json")) {
					t.Errorf("%s: request body untyped", key)
				}
			}
			resps := op["responses"].(map[string]any)
			okResp := false
			for code, rv := range resps {
				rm := rv.(map[string]any)
				switch {
				case code == "204" || code == "304":
					okResp = true
				case strings.HasPrefix(code, "2"):
					okResp = true
					if !typed(content(t, key, rm, "application/json")) {
						t.Errorf("%s: response %s untyped", key, code)
					}
				case code == "default" || code[0] == '4' || code[0] == '5':
					if s := content(t, key, rm, "application/problem+json"); s["$ref"] != "#/components/schemas/ErrorModel" {
						t.Errorf("%s: error %s is not a problem: %v", key, code, s)
					}
				}
			}
			if !okResp {
				t.Errorf("%s: no success response", key)
			}
			if len(sec) == 1 {
				if _, ok := resps["401"]; !ok {
					t.Errorf("%s: requires a token but documents no 401", key)
				}
			}
		}
	}
	sort.Strings(ops)
	want := []string{
		"DELETE /api/v1/users/{username}/rules/{id}",
		"GET /api/v1/admin/default-rules", "GET /api/v1/admin/rules", "GET /api/v1/admin/stats", "GET /api/v1/admin/stats/applications",
		"GET /api/v1/admin/stats/channels", "GET /api/v1/admin/stats/deliveries", "GET /api/v1/admin/stats/hourly",
		"GET /api/v1/admin/stats/rules", "GET /api/v1/admin/stats/users", "GET /api/v1/admin/users", "GET /api/v1/applications", "GET /api/v1/artifacts",
		"GET /api/v1/users", "GET /api/v1/users/me", "GET /api/v1/users/{username}/delivery", "GET /api/v1/users/{username}/destinations",
		"GET /api/v1/users/{username}/groups", "GET /api/v1/users/{username}/info", "GET /api/v1/users/{username}/rules",
		"GET /api/v1/users/{username}/rules/{id}", "GET /api/v1/users/{username}/rules/{id}/stats", "PATCH /api/v1/admin/rules/{id}", "POST /api/v1/rule-preview",
		"POST /api/v1/users/{username}/rules", "PUT /api/v1/admin/default-rules", "PUT /api/v1/users/{username}/delivery", "PUT /api/v1/users/{username}/rules/{id}",
	}
	if !slices.Equal(ops, want) {
		t.Errorf("operations:\n%s\nwant:\n%s", strings.Join(ops, "\n"), strings.Join(want, "\n"))
	}

	// The YAML form and the docs page are served too.
	expect(t, b.do(t, "", http.MethodGet, "/api/v1/openapi.yaml", nil), http.StatusOK)
	d := b.do(t, "", http.MethodGet, "/api/docs", nil)
	expect(t, d, http.StatusOK)
	if !strings.Contains(string(d.body), "/api/v1/openapi") {
		t.Errorf("docs page does not load the document: %.200s", d.body)
	}
	// Not huma's page, which loads its scripts from unpkg.com.
	if strings.Contains(string(d.body), "unpkg") || d.header.Get("Content-Security-Policy") == "" {
		t.Errorf("docs page is not fmn's own: %.200s", d.body)
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func content(t *testing.T, key string, m map[string]any, ct string) map[string]any {
	t.Helper()
	c, _ := m["content"].(map[string]any)
	mt, ok := c[ct].(map[string]any)
	if !ok {
		t.Errorf("%s: no %s content in %v", key, ct, m)
		return map[string]any{}
	}
	s, _ := mt["schema"].(map[string]any)
	if s == nil {
		return map[string]any{}
	}
	return s
}
