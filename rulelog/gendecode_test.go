package rulelog_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// genColumns are generation_rules columns as PostgreSQL prints them, and
// forms the fast decoder leaves to encoding/json.
var genColumns = []string{
	`[{"filters": {"topic": null, "my_actions": false, "severities": [], "applications": [], "excluded_applications": []}, "destinations": [{"address": "alice@example.org", "protocol": "email"}]}]`,
	`[{"filters": {"topic": "org.fedoraproject.prod.bodhi.*", "my_actions": true, "severities": ["error", "warning"], "applications": ["bodhi", "Koji"], "excluded_applications": ["copr"]}, "destinations": [{"address": "alice", "protocol": "irc"}, {"address": "@alice:fedora.im", "protocol": "matrix"}]}, {"filters": {}, "destinations": []}]`,
	`[]`, `null`, ` [ ] `, `[{}]`, `[{"filters": null, "destinations": null}]`,
	`[{"destinations":[{"protocol":"email","address":"élodie@example.org"}],"filters":{"applications":null,"topic":""}}]`,
	// encoding/json's: escapes, other keys and case, duplicates, nulls in
	// lists, other types, bad JSON.
	`[{"destinations": [{"address": "a\"b@example.org", "protocol": "email"}]}]`,
	`[{"destinations": [{"address": "a\u00e9@example.org", "protocol": "email"}]}]`,
	`[{"Destinations": [{"Address": "a@example.org", "protocol": "email"}], "extra": 1}]`,
	`[{"filters": {"my_actions": true}, "filters": {"topic": "x"}}]`,
	`[{"filters": {"applications": ["a", null]}}]`, `[null]`, `[{"destinations": [null]}]`,
	`[{"filters": {"my_actions": null}}]`, `[{"filters": {"my_actions": 1}}]`,
	`[{"destinations": [{"address": "\xff", "protocol": "email"}]}]`,
	``, `[`, `[{]`, `{}`, `[{"filters": {}}] x`, `nullx`, `[{"filters": {"topic": nul}}]`,
	`[{"filters": {"my_actions": truex}}]`, `[{"destinations": [{"address": "a"}],}]`, `[1]`,
}

// TestDecodeGenerationRules: the fast decoder answers what encoding/json
// answers, value and error alike.
func TestDecodeGenerationRules(t *testing.T) {
	for _, col := range genColumns {
		checkGenDecode(t, []byte(col))
	}
	// What ruleColumns writes, read back as written.
	topic := "org.fedoraproject.*"
	g := []rules.GenerationRule{{
		Destinations: []rules.Destination{{Protocol: "email", Address: "bob@example.org"}},
		Filters:      rules.Filters{Applications: []string{}, ExcludedApplications: []string{"koji"}, Severities: []string{"info"}, Topic: &topic, MyActions: true},
	}}
	data, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	checkGenDecode(t, data)
}

func FuzzDecodeGenerationRules(f *testing.F) {
	for _, col := range genColumns {
		f.Add([]byte(col))
	}
	f.Fuzz(checkGenDecode)
}

func checkGenDecode(t *testing.T, data []byte) {
	t.Helper()
	var want []rules.GenerationRule
	wantErr := json.Unmarshal(data, &want)
	got, err := rulelog.DecodeGenerationRules(data)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s: error %v, encoding/json's %v", data, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %#v\nwant %#v", data, got, want)
	}
}

func BenchmarkDecodeGenerationRules(b *testing.B) {
	data := []byte(genColumns[0])
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rulelog.DecodeGenerationRules(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var g []rules.GenerationRule
			if err := json.Unmarshal(data, &g); err != nil {
				b.Fatal(err)
			}
		}
	})
}
