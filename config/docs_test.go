package config

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDeploymentDocsNameRealSettings: every FMN_* setting docs/deploy.md and
// the example units and environment file name is one fmn reads.
func TestDeploymentDocsNameRealSettings(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	st := Bind(flag.NewFlagSet("test", flag.ContinueOnError), &cfg)
	known := map[string]bool{}
	for _, s := range st.list {
		known[s.env] = true
		if s.secret {
			known[s.env+"_FILE"] = true
		}
	}
	files, _ := filepath.Glob(filepath.Join("..", "docs", "systemd", "*"))
	files = append(files, filepath.Join("..", "docs", "deploy.md"))
	name := regexp.MustCompile(`FMN_[A-Z0-9_*]*[A-Z0-9*]`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range name.FindAllString(string(data), -1) {
			// nkey variables of the NATS configuration, and patterns
			// such as FMN_STREAM_* or FMN_*_MAX_AGE.
			if strings.HasPrefix(n, "FMN_NKEY_") || strings.Contains(n, "*") {
				continue
			}
			if !known[n] {
				t.Errorf("%s names %s, which is no setting", f, n)
			}
		}
	}
}
