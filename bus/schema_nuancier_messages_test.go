package bus

import "testing"

func TestNuancierSchemas(t *testing.T) {
	schemaRun(t, []schemaCase{
		{name: "full", schema: "nuancier.new",
			body: `{"agent_name": "dummy-user", "thing": {"id": 1, "name": "dummy", "url": "http://localhost/thing"}}`,
			want: schemaWant{App: "nuancier", Agent: "dummy-user", Summary: `dummy-user created thing "dummy" (1)`,
				Text: "New Thing: dummy\nBy: dummy-user\n", URL: "http://localhost/thing",
				Users: []string{"dummy-user"}}},
		// id is a JSON number: a float renders as Python's float.
		{name: "minimal, float id", schema: "nuancier.new",
			body: `{"agent_name": "dummy-user", "thing": {"id": 2.0, "name": "dummy"}}`,
			want: schemaWant{App: "nuancier", Agent: "dummy-user", Summary: `dummy-user created thing "dummy" (2.0)`,
				Text: "New Thing: dummy\nBy: dummy-user\n", Users: []string{"dummy-user"}}},
		// A body the schema rejects (no name: Python raises KeyError).
		{name: "invalid: no name", schema: "nuancier.new",
			body: `{"agent_name": "dummy-user", "thing": {"id": 1}}`,
			want: schemaWant{App: "nuancier", Agent: "dummy-user", Summary: `dummy-user created thing "None" (1)`,
				Text: "New Thing: None\nBy: dummy-user\n", Users: []string{"dummy-user"}}},
	})
}
