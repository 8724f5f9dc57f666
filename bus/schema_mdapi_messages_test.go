package bus

import "testing"

func TestMdapiMessagesSchema(t *testing.T) {
	t.Parallel()
	md := func(c schemaCase) schemaCase { c.schema, c.want.App = "mdapi.repo.update", "mdapi"; return c }
	cases := []schemaCase{
		// The package's tests (test_schema.py test_str and test_summary on
		// DUMMY_UPDATE, the rawhide repo with kernel and inkscape).
		md(schemaCase{name: "package tests' DUMMY_UPDATE",
			body: `{"name":"rawhide","packages":["kernel","inkscape"],"url":"fedora/linux/development/rawhide/Everything/x86_64/os/repodata/repomd.xml"}`,
			want: schemaWant{Summary: "MDAPI updated repo rawhide with new details for 2 packages",
				Text: "MDAPI updated repo rawhide with new details for the packages: kernel, inkscape"}}),
		// As mdapi publishes it (mdapi/database/main.py): url is the path
		// of the repomd.xml, which the class does not use.
		md(schemaCase{name: "epel9 update, no url",
			body: `{"name":"epel9","packages":["python-requests"]}`,
			want: schemaWant{Summary: "MDAPI updated repo epel9 with new details for 1 packages",
				Text: "MDAPI updated repo epel9 with new details for the packages: python-requests"}}),
		md(schemaCase{name: "no packages",
			body: `{"name":"f41-updates","packages":[]}`,
			want: schemaWant{Summary: "MDAPI updated repo f41-updates with new details for 0 packages",
				Text: "MDAPI updated repo f41-updates with new details for the packages: "}}),

		// Bodies where Python raises.
		md(schemaCase{name: "a package that is no string",
			body:   `{"name":"rawhide","packages":["kernel",null]}`,
			raises: "__str__ (str.join of None)",
			want:   schemaWant{Summary: "MDAPI updated repo rawhide with new details for 2 packages"}}),
		md(schemaCase{name: "packages not a list",
			body:   `{"name":"rawhide","packages":3}`,
			raises: "summary and __str__ (len and iteration of an int)"}),
		md(schemaCase{name: "no name",
			body:   `{"packages":["kernel"]}`,
			raises: "summary and __str__ (KeyError name)"}),
	}
	schemaRun(t, cases)
}
