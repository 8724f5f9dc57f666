package config

import (
	"slices"
	"strings"
	"testing"
)

func TestCORSOrigins(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, nil, map[string]string{"FMN_CORS_ORIGINS": "https://ui.example.org, http://127.0.0.1:5173/"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.CORSOrigins, []string{"https://ui.example.org", "http://127.0.0.1:5173/"}) {
		t.Errorf("origins %q", cfg.CORSOrigins)
	}
	if _, err := load(t, []string{"-cors-origins", "*"}, nil); err != nil {
		t.Errorf("*: %v", err)
	}
	for _, bad := range []string{"ui.example.org", "https://ui.example.org/app", "ftp://x.org", "https://u:p@x.org"} {
		_, err := load(t, nil, map[string]string{"FMN_CORS_ORIGINS": bad})
		if err == nil || !strings.Contains(err.Error(), "FMN_CORS_ORIGINS") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
