package cli_test

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/bus"
)

// corpusRaw returns the corpus lines of the given ids, as JSON Lines.
func corpusRaw(t *testing.T, ids ...string) string {
	t.Helper()
	f, err := os.Open("../bus/testdata/corpus/fedora-messages.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		for _, id := range ids {
			if strings.Contains(sc.Text(), `"id": "`+id+`"`) {
				b.WriteString(sc.Text() + "\n")
			}
		}
	}
	return b.String()
}

func TestInspect(t *testing.T) {
	t.Parallel()
	const koji, hotness = "2708663d-3edd-57fc-b85b-cb39f9b0cf7d", "1d746cac-c6d1-5a64-a69a-d57807e508cb"
	in := corpusRaw(t, koji, hotness)

	code, out, errOut := runCLI(t, in, "inspect", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		koji + "  org.fedoraproject.prod.buildsys.build.state.change",
		"  schema:      koji_fedoramessaging.build.BuildStateChangeV1 (koji-fedoramessaging-messages 1.3.0)",
		"  extractor:   koji_fedoramessaging_messages.build:BuildStateChangeV1",
		"  app:         Koji\n",
		"  usernames:   spot\n",
		"  packages:    chromium\n",
		"  summary:     Build FAILED: spot's chromium-80.0.3987.132-1.fc33\n",
		"    | Package:    chromium-80.0.3987.132-1.fc33\n",
		"  app:         The New Hotness\n",
		"  packages:    jacoco\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = runCLI(t, in, "inspect", "--json", "-")
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("--json: %d lines, want 2:\n%s", len(lines), out)
	}
	var f bus.Fields
	if err := json.Unmarshal([]byte(lines[0]), &f); err != nil {
		t.Fatal(err)
	}
	if f.ID != koji || f.App != "Koji" || f.Extractor != "koji_fedoramessaging_messages.build:BuildStateChangeV1" ||
		len(f.Packages) != 1 || f.Packages[0] != "chromium" || !strings.HasPrefix(f.Text, "Package:    chromium") {
		t.Errorf("--json: %+v", f)
	}

	// An unknown schema: the generic extractor; a message that is not one:
	// said, the others still shown, exit 1.
	bad := `{"id": "x1", "topic": "org.example.prod.thing.happened", "headers": {"fedora_messaging_schema": "nobody.v1"}, "body": {"agent": "zed", "summary": "zed did a thing"}}
{"id": "x2", "topic": "org.example.prod.thing", "body": "not an object"}
{"id": "", "topic": "org.example.prod.thing", "body": {}}
`
	code, out, errOut = runCLI(t, bad, "inspect", "-")
	if code != 1 || !strings.Contains(out, "extractor:   generic") || !strings.Contains(out, "summary:     zed did a thing") ||
		!strings.Contains(errOut, "could not be read or parsed") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, _, _ := runCLI(t, "", "inspect"); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
}
