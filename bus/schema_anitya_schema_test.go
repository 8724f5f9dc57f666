package bus

import (
	"strings"
	"testing"
)

// The expected values are what the Python classes compute (checked with
// anitya-schema 2.3.0 and the-new-hotness-schema 1.3.0), except where
// raises names the properties that raise in Python: then they are what fmn
// derives instead.

func TestAnityaSchemas(t *testing.T) {
	t.Parallel()
	cases := []schemaCase{
		// One of each class (bodies from the package's tests and fixtures,
		// shortened).
		{name: "distro.add, OpenID agent", schema: "anitya.distro.add",
			body: `{"distro":{"name":"Devuan"},"message":{"agent":"http://cleaver.id.fedoraproject.org/","distro":"Devuan"},"project":null}`,
			want: schemaWant{Agent: "http://cleaver.id.fedoraproject.org/",
				Summary: "A new distribution, Devuan, was added to release-monitoring."}},
		{name: "distro.edit, email agent", schema: "anitya.distro.edit",
			body: `{"distro":{"name":"openSUSE"},"message":{"agent":"quantum.analyst@gmail.com","new":"openSUSE","old":"OpenSUSE"},"project":null}`,
			want: schemaWant{Agent: "quantum.analyst@gmail.com",
				Summary: "The name of the OpenSUSE distribution changed to openSUSE."}},
		{name: "distro.remove", schema: "anitya.distro.remove",
			body: `{"distro":{"name":"Fedura"},"message":{"agent":"zlopez","distro":"Fedura"},"project":null}`,
			want: schemaWant{Agent: "zlopez", Summary: "The Fedura distribution was removed from release-monitoring."}},
		{name: "project.add", schema: "anitya.project.add",
			body: `{"distro":null,"message":{"agent":"praiskup","project":"pg-semver"},"project":{"name":"pg-semver","id":1}}`,
			want: schemaWant{Agent: "praiskup", Summary: "A new project, pg-semver, was added to release-monitoring."}},
		{name: "project.edit", schema: "anitya.project.edit",
			body: `{"distro":null,"message":{"agent":"qulogic","project":"cartopy","changes":{},"fields":[]},"project":{"name":"cartopy"}}`,
			want: schemaWant{Agent: "qulogic", Summary: "A project, cartopy, was edited in release-monitoring."}},
		{name: "project.remove", schema: "anitya.project.remove",
			body: `{"distro":null,"message":{"agent":"tibbs","project":"tinyproxy"},"project":{"name":"tinyproxy"}}`,
			want: schemaWant{Agent: "tibbs", Summary: "A project, tinyproxy, was deleted in release-monitoring."}},
		{name: "project.flag", schema: "anitya.project.flag",
			body: `{"message":{"agent":"elyscape","project":"server","packages":[{"distro":"Fedora","package_name":"server"}],"reason":"dup"},"project":{"name":"server"}}`,
			want: schemaWant{Agent: "elyscape", Summary: "A flag was created on project server in release-monitoring."}},
		{name: "project.flag.set, int flag", schema: "anitya.project.flag.set",
			body: `{"distro":null,"message":{"agent":"tibbs","flag":539,"state":"closed"},"project":null}`,
			want: schemaWant{Agent: "tibbs", Summary: "A flag '539' was closed in release-monitoring."}},
		{name: "project.flag.set, float flag as Python prints it", schema: "anitya.project.flag.set",
			body: `{"distro":null,"message":{"agent":"tibbs","flag":5.0,"state":"open"},"project":null}`,
			want: schemaWant{Agent: "tibbs", Summary: "A flag '5.0' was open in release-monitoring."}},
		{name: "project.map.new, Fedora", schema: "anitya.project.map.new",
			body: `{"distro":{"name":"Fedora"},"message":{"agent":"qulogic","distro":"Fedora","project":"gdtools","new":"R-gdtools"},"project":{"name":"gdtools"}}`,
			want: schemaWant{Agent: "qulogic", Packages: []string{"R-gdtools"},
				Summary: "A new mapping was created for project gdtools in release-monitoring."}},
		{name: "project.map.new, other distro", schema: "anitya.project.map.new",
			body: `{"distro":{"name":"Debian"},"message":{"agent":"qulogic","distro":"Debian","project":"gdtools","new":"r-gdtools"},"project":{"name":"gdtools"}}`,
			want: schemaWant{Agent: "qulogic", Summary: "A new mapping was created for project gdtools in release-monitoring."}},
		{name: "project.map.update, Fedora", schema: "anitya.project.map.update",
			body: `{"distro":{"name":"Fedora"},"message":{"agent":"eseyman","distro":"Fedora","edited":["package_name"],"new":"perl-AnyEvent-DBus","prev":"AnyEvent-DBus","project":"AnyEvent-DBus"},"project":{"name":"AnyEvent-DBus"}}`,
			want: schemaWant{Agent: "eseyman", Packages: []string{"AnyEvent-DBus", "perl-AnyEvent-DBus"},
				Summary: "A mapping for project AnyEvent-DBus was edited in release-monitoring."}},
		{name: "project.map.update, same name", schema: "anitya.project.map.update",
			body: `{"distro":{"name":"Fedora"},"message":{"agent":"eseyman","distro":"Fedora","edited":[],"new":"same","prev":"same","project":"p"},"project":{"name":"p"}}`,
			want: schemaWant{Agent: "eseyman", Packages: []string{"same"},
				Summary: "A mapping for project p was edited in release-monitoring."}},
		{name: "project.map.update, other distro", schema: "anitya.project.map.update",
			body: `{"distro":{"name":"Ubuntu"},"message":{"agent":"eseyman","distro":"Ubuntu","edited":[],"new":"a","prev":"b","project":"p"},"project":{"name":"p"}}`,
			want: schemaWant{Agent: "eseyman", Summary: "A mapping for project p was edited in release-monitoring."}},
		{name: "project.map.remove", schema: "anitya.project.map.remove",
			body: `{"distro":null,"message":{"agent":"http://zlopez.id.fedoraproject.org/","distro":"Fedora","project":"Linux"},"project":{"name":"Linux"}}`,
			want: schemaWant{Agent: "http://zlopez.id.fedoraproject.org/",
				Summary: "A mapping for project Linux was deleted in release-monitoring."}},
		{name: "project.version.update: no packages", schema: "anitya.project.version.update",
			body: `{"distro":null,"message":{"agent":"anitya","upstream_version":"0.17.0","odd_change":false,"old_version":"0.16","packages":[{"distro":"Fedora","package_name":"pg-semver"}],"versions":[]},"project":{"name":"pg-semver"}}`,
			want: schemaWant{Agent: "anitya",
				Summary: "A new version '0.17.0' was found for project pg-semver in release-monitoring."}},
		{name: "project.version.update.v2, Fedora packages", schema: "anitya.project.version.update.v2",
			body: `{"distro":null,"message":{"agent":"anitya","upstream_versions":["1.0.4","1.0.3"],"old_version":"1.0.2","packages":[{"distro":"Fedora","package_name":"flatpak"},{"distro":"Ubuntu","package_name":"flatpak-ubuntu"},{"distro":"Fedora","package_name":"flatpak-builder"}],"versions":[],"stable_versions":[]},"project":{"name":"flatpak"}}`,
			want: schemaWant{Agent: "anitya", Packages: []string{"flatpak", "flatpak-builder"},
				Summary: "A new versions '1.0.4, 1.0.3' were found for project flatpak in release-monitoring."}},
		{name: "project.version.update.v2, no versions", schema: "anitya.project.version.update.v2",
			body: `{"distro":null,"message":{"agent":"anitya","upstream_versions":[],"packages":[]},"project":{"name":"flatpak"}}`,
			want: schemaWant{Agent: "anitya",
				Summary: "A new versions '' were found for project flatpak in release-monitoring."}},
		{name: "project.version.remove", schema: "anitya.project.version.remove",
			body: `{"distro":null,"message":{"agent":"tibbs","project":"gbrainy","version":"GBRAINY_2_2_7"},"project":{"name":"gbrainy"}}`,
			want: schemaWant{Agent: "tibbs",
				Summary: "A version 'GBRAINY_2_2_7' was deleted in project gbrainy in release-monitoring."}},
		// ProjectVersionDeletedV2's three forms.
		{name: "project.version.remove.v2, one", schema: "anitya.project.version.remove.v2",
			body: `{"distro":null,"message":{"agent":"tibbs","project":"gbrainy","versions":["1.0.0"]},"project":{"name":"Dummy"}}`,
			want: schemaWant{Agent: "tibbs", Summary: "A version '1.0.0' was deleted in project Dummy in release-monitoring."}},
		{name: "project.version.remove.v2, two", schema: "anitya.project.version.remove.v2",
			body: `{"distro":null,"message":{"agent":"tibbs","project":"gbrainy","versions":["1.0.0","1.0.1"]},"project":{"name":"Dummy"}}`,
			want: schemaWant{Agent: "tibbs",
				Summary: "A versions '1.0.0, 1.0.1' were deleted in project Dummy in release-monitoring."}},
		{name: "project.version.remove.v2, five", schema: "anitya.project.version.remove.v2",
			body: `{"distro":null,"message":{"agent":"tibbs","project":"gbrainy","versions":["1.0.0","1.0.1","1.0.2","1.0.3","1.0.4"]},"project":{"name":"Dummy"}}`,
			want: schemaWant{Agent: "tibbs",
				Summary: "A versions '1.0.0, 1.0.1, 1.0.2, 1.0.3, 1.0.4' were deleted in project Dummy in release-monitoring."}},
		{name: "project.version.remove.v2, six", schema: "anitya.project.version.remove.v2",
			body: `{"distro":null,"message":{"agent":"tibbs","project":"gbrainy","versions":["1.0.0","1.0.1","1.0.2","1.0.3","1.0.4","1.0.5"]},"project":{"name":"Dummy"}}`,
			want: schemaWant{Agent: "tibbs", Summary: "6 versions entries were deleted in project Dummy in release-monitoring."}},
		{name: "project.version.remove.v2, none", schema: "anitya.project.version.remove.v2",
			body: `{"distro":null,"message":{"agent":"tibbs","project":"gbrainy","versions":[]},"project":{"name":"Dummy"}}`,
			want: schemaWant{Agent: "tibbs", Summary: "A versions '' were deleted in project Dummy in release-monitoring."}},
		{name: "project.version.remove.v2, a float version", schema: "anitya.project.version.remove.v2",
			body: `{"distro":null,"message":{"agent":"tibbs","project":"gbrainy","versions":[1.5]},"project":{"name":"Dummy"}}`,
			want: schemaWant{Agent: "tibbs", Summary: "A version '1.5' was deleted in project Dummy in release-monitoring."}},
		// Python sequences that are not lists, as Python reads them.
		{name: "project.version.remove.v2, a str is its characters", schema: "anitya.project.version.remove.v2",
			body: `{"distro":null,"message":{"agent":"tibbs","project":"gbrainy","versions":"abc"},"project":{"name":"Dummy"}}`,
			want: schemaWant{Agent: "tibbs",
				Summary: "A versions 'a, b, c' were deleted in project Dummy in release-monitoring."}},
		{name: "project.version.remove.v2, a dict is its keys", schema: "anitya.project.version.remove.v2",
			body: `{"distro":null,"message":{"agent":"tibbs","project":"gbrainy","versions":{"x":1,"y":2}},"project":{"name":"Dummy"}}`,
			want: schemaWant{Agent: "tibbs", Summary: "A versions 'x, y' were deleted in project Dummy in release-monitoring."}},
		{name: "agent missing, name null", schema: "anitya.project.add",
			body:   `{"distro":null,"message":{"project":"x"},"project":{"name":null}}`,
			raises: "agent_name (KeyError)",
			want:   schemaWant{Summary: "A new project, None, was added to release-monitoring."}},

		// Properties that raise in Python: what fmn derives.
		{name: "one-key dict: versions[0] raises", schema: "anitya.project.version.remove.v2",
			body:   `{"distro":null,"message":{"agent":"tibbs","project":"gbrainy","versions":{"x":1}},"project":{"name":"Dummy"}}`,
			raises: "summary, str (KeyError): fmn keeps the base summary and text",
			want:   schemaWant{Agent: "tibbs"}},
		{name: "versions that are not strings: joined as str()", schema: "anitya.project.version.remove.v2",
			body:   `{"distro":null,"message":{"agent":"tibbs","project":"gbrainy","versions":[1,null]},"project":{"name":"Dummy"}}`,
			raises: "summary, str (TypeError in join)",
			want: schemaWant{Agent: "tibbs",
				Summary: "A versions '1, None' were deleted in project Dummy in release-monitoring."}},
		{name: "project name missing, agent null", schema: "anitya.project.add",
			body:   `{"distro":null,"message":{"agent":null,"project":"x"},"project":{}}`,
			raises: "summary, str (KeyError): fmn keeps the base summary and text"},
		{name: "broken mappings are skipped", schema: "anitya.project.version.update.v2",
			body:   `{"distro":null,"message":{"agent":"anitya","upstream_versions":["1.0",2],"packages":[{"distro":"Fedora"},{"package_name":"x"},"junk",{"distro":"Fedora","package_name":"ok"}]},"project":{"name":"p"}}`,
			raises: "packages (KeyError), summary, str (TypeError in join)",
			want: schemaWant{Agent: "anitya", Packages: []string{"ok"},
				Summary: "A new versions '1.0, 2' were found for project p in release-monitoring."}},
		{name: "upstream_versions null", schema: "anitya.project.version.update.v2",
			body:   `{"distro":null,"message":{"agent":"anitya","upstream_versions":null,"packages":[]},"project":{"name":"p"}}`,
			raises: "summary, str (TypeError): fmn keeps the base summary and text",
			want:   schemaWant{Agent: "anitya"}},
		{name: "map.new without distro", schema: "anitya.project.map.new",
			body:   `{"distro":null,"message":{"agent":"a","new":"x"},"project":{"name":"p"}}`,
			raises: "packages (TypeError): fmn has none",
			want:   schemaWant{Agent: "a", Summary: "A new mapping was created for project p in release-monitoring."}},
	}
	for i, c := range cases {
		c.topic = "org.release-monitoring.prod." + c.schema
		c.want.App = "anitya"
		cases[i] = c.strIsSummary()
	}
	schemaRun(t, cases)
}

// Every class is registered with its class path and app name, and odd
// bodies never make an extractor fail.
func TestAnityaRegistry(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"anitya.distro.add":                "anitya_schema.distro_messages:DistroCreated",
		"anitya.distro.edit":               "anitya_schema.distro_messages:DistroEdited",
		"anitya.distro.remove":             "anitya_schema.distro_messages:DistroDeleted",
		"anitya.project.add":               "anitya_schema.project_messages:ProjectCreated",
		"anitya.project.edit":              "anitya_schema.project_messages:ProjectEdited",
		"anitya.project.remove":            "anitya_schema.project_messages:ProjectDeleted",
		"anitya.project.flag":              "anitya_schema.project_messages:ProjectFlag",
		"anitya.project.flag.set":          "anitya_schema.project_messages:ProjectFlagSet",
		"anitya.project.map.new":           "anitya_schema.project_messages:ProjectMapCreated",
		"anitya.project.map.update":        "anitya_schema.project_messages:ProjectMapEdited",
		"anitya.project.map.remove":        "anitya_schema.project_messages:ProjectMapDeleted",
		"anitya.project.version.update":    "anitya_schema.project_messages:ProjectVersionUpdated",
		"anitya.project.version.update.v2": "anitya_schema.project_messages:ProjectVersionUpdatedV2",
		"anitya.project.version.remove":    "anitya_schema.project_messages:ProjectVersionDeleted",
		"anitya.project.version.remove.v2": "anitya_schema.project_messages:ProjectVersionDeletedV2",
		"hotness.update.drop":              "hotness_schema.messages:UpdateDrop",
		"hotness.update.bug.file":          "hotness_schema.messages:UpdateBugFile",
	}
	odd := []string{`null`, `[]`, `"x"`, `5`, `{}`,
		`{"message":5,"project":[],"distro":"x","trigger":"x","reason":[],"bug":null}`,
		`{"message":{"agent":{},"versions":null,"upstream_versions":5,"packages":{"a":1},"new":[],"prev":{}},"project":{"name":[1]},"distro":{"name":"Fedora"}}`,
		`{"trigger":{"msg":"package_listing","topic":5},"reason":null,"agent_name":7}`,
		`{"trigger":{"msg":{"message":{"packages":"Fedora"}},"topic":"x.project.map.new"},"bug":{"bug_id":{}}}`,
	}
	for name, class := range want {
		s := DefaultRegistry.Lookup(name)
		if s == nil {
			t.Errorf("%s: not registered", name)
			continue
		}
		app := "anitya"
		if strings.HasPrefix(name, "hotness.") {
			app = "The New Hotness"
		}
		if s.Class != class || s.App != app || s.Deprecated {
			t.Errorf("%s: class %q app %q deprecated %v, want %q %q false", name, s.Class, s.App, s.Deprecated, class, app)
		}
		for _, body := range odd {
			p := mustParse(t, "org.release-monitoring.prod."+name, hdr(HeaderSchema, name), body)
			if p.ExtractError != "" {
				t.Errorf("%s %s: %s", name, body, p.ExtractError)
			}
		}
	}
}
