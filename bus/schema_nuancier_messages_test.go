package bus

import "testing"

func TestNuancierSchemas(t *testing.T) {
	fedocalRun(t, []fedocalCase{
		{name: "full", schema: "nuancier.new", body: `{"agent_name": "dummy-user", "thing": {"id": 1, "name": "dummy", "url": "http://localhost/thing"}}`,
			app: "nuancier", agent: "dummy-user", summary: `dummy-user created thing "dummy" (1)`,
			text: "New Thing: dummy\nBy: dummy-user\n", url: "http://localhost/thing", usernames: []string{"dummy-user"}},
		// id is a JSON number: a float renders as Python's float.
		{name: "minimal, float id", schema: "nuancier.new", body: `{"agent_name": "dummy-user", "thing": {"id": 2.0, "name": "dummy"}}`,
			app: "nuancier", agent: "dummy-user", summary: `dummy-user created thing "dummy" (2.0)`,
			text: "New Thing: dummy\nBy: dummy-user\n", usernames: []string{"dummy-user"}},
		// A body the schema rejects (no name: Python raises KeyError).
		{name: "invalid: no name", schema: "nuancier.new", body: `{"agent_name": "dummy-user", "thing": {"id": 1}}`,
			app: "nuancier", agent: "dummy-user", summary: `dummy-user created thing "None" (1)`,
			text: "New Thing: None\nBy: dummy-user\n", usernames: []string{"dummy-user"}},
	})
}
