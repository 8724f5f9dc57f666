package bus

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// ncCase is one message given to a class of the packages without corpus
// messages (ci-messages, fedora-elections-messages,
// fedora-image-uploader-messages, mdapi-messages), with what fmn must
// derive from it. The bodies come from the packages' own tests (or, where
// those load fixture files that could not be read, are rebuilt from what
// the tests assert of them); the expected values are what the Python class
// computes, the tests' own assertions where they make some. Where raises
// is set, Python raises for some property and the expected value is what
// fmn derives instead.
type ncCase struct {
	name   string
	schema string
	topic  string // "" = org.fedoraproject.prod.<schema>
	body   string

	class                   string // "" = the schema's registered class
	app, agent, url         string
	users, pkgs, containers []string
	summary                 string // "" = the base class's (the topic)
	text                    string // "" = the base class's dump
	raises                  string // what raises in Python, for the reader
}

func ncRun(t *testing.T, cases []ncCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			topic := tc.topic
			if topic == "" {
				topic = "org.fedoraproject.prod." + tc.schema
			}
			p := mustParse(t, topic, hdr(HeaderSchema, tc.schema), tc.body)
			if p.ExtractError != "" {
				t.Fatalf("extract error: %s", p.ExtractError)
			}
			if s := DefaultRegistry.Lookup(tc.schema); s == nil || p.Extractor != s.Class || tc.class != "" && p.Extractor != tc.class {
				t.Errorf("extractor %q, want the class of %q", p.Extractor, tc.schema)
			}
			wantSummary := tc.summary
			if wantSummary == "" {
				wantSummary = topic
			}
			if p.Summary != wantSummary {
				t.Errorf("summary\n got %q\nwant %q", p.Summary, wantSummary)
			}
			if p.Text != tc.text {
				t.Errorf("text\n got %q\nwant %q", p.Text, tc.text)
			}
			if tc.text == "" && !strings.HasPrefix(p.DisplayText(), "Id: id-1\nTopic: "+topic+"\n") {
				t.Errorf("display text %q, want the base dump", p.DisplayText())
			}
			if p.App != tc.app {
				t.Errorf("app %q, want %q", p.App, tc.app)
			}
			if p.Agent != tc.agent {
				t.Errorf("agent %q, want %q", p.Agent, tc.agent)
			}
			if p.URL != tc.url {
				t.Errorf("url %q, want %q", p.URL, tc.url)
			}
			set := func(s []string) []string {
				s = slices.Clone(s)
				slices.Sort(s)
				return slices.Compact(s)
			}
			for _, l := range []struct {
				kind      string
				got, want []string
			}{
				{"usernames", p.Usernames, tc.users},
				{"packages", p.Packages, tc.pkgs},
				{"containers", p.Containers, tc.containers},
				{"groups", p.Groups, nil},
				{"modules", p.Modules, nil},
				{"flatpaks", p.Flatpaks, nil},
			} {
				if got, want := set(l.got), set(l.want); len(got)+len(want) > 0 && !reflect.DeepEqual(got, want) {
					t.Errorf("%s %q, want %q", l.kind, got, want)
				}
			}
			if p.Severity != SeverityInfo || p.Deprecated || p.PatchURL != "" {
				t.Errorf("severity %d, deprecated %v, patch url %q: want the defaults", p.Severity, p.Deprecated, p.PatchURL)
			}
		})
	}
}

// same sets the text to the summary, as CIMessageV1.__str__ does.
func (c ncCase) same() ncCase { c.text = c.summary; return c }

func TestCIMessagesSchema(t *testing.T) {
	t.Parallel()
	const schema = "ci_messages.CIMessageV1"
	ci := func(c ncCase) ncCase { c.schema = schema; return c }
	cases := []ncCase{
		// The five messages of the package's tests/test_schema.py, on
		// their bare topics as the tests give them (the fixture files of
		// tests/examples were not readable: each body holds what the
		// assertions depend on, in the shapes of the CI Messages spec).
		ci(ncCase{name: "productmd-compose.test.complete", topic: "productmd-compose.test.complete",
			body: `{"artifact":{"type":"productmd-compose","id":"RHEL-ALT-7-20180101.n.0","compose_type":"nightly"},
				"run":{"url":"https://rtt.somewhere.com/job/compose-RHEL-ALT-7-nightly-tier2-acceptance/arch=aarch64,variant=Server/1/","log":"https://rtt.somewhere.com/job/compose-RHEL-ALT-7-nightly-tier2-acceptance/arch=aarch64,variant=Server/1/console"},
				"test":{"type":"acceptance","category":"functional","namespace":"rtt","result":"passed"},
				"pipeline":{"id":"4be1b7b8-3d1a-4b1e-9d4b-47c7ce2d2d7a","name":"rtt-acceptance"},"generated_at":"2018-01-01T00:00:00Z","version":"0.2.1"}`,
			summary: "CI: acceptance test of productmd-compose RHEL-ALT-7-20180101.n.0 finished",
			url:     "https://rtt.somewhere.com/job/compose-RHEL-ALT-7-nightly-tier2-acceptance/arch=aarch64,variant=Server/1/"}).same(),
		ci(ncCase{name: "brew-build.promote.queued", topic: "brew-build.promote.queued",
			body: `{"artifact":{"type":"brew-build","id":14546276,"issuer":"plautrba","component":"setup","nvr":"setup-2.8.71-7.el7_4","scratch":false,
				"source":"git+https://src.example.com/rpms/setup?#5e4ad15a01ec5e3ba1f6d79a4b1a0c1e1e4d6b7a"},
				"pipeline":{"id":"1","name":"promote"},"generated_at":"2018-01-01T00:00:00Z","version":"0.2.1"}`,
			summary: "CI: promotion of brew-build setup-2.8.71-7.el7_4 was queued"}).same(),
		ci(ncCase{name: "uncontrolled-build.build.complete", topic: "uncontrolled-build.build.complete",
			body: `{"artifact":{"type":"uncontrolled-build","nvr":"plymouth-theme-hot-dog-0.4-1.fc16",
				"url":"https://wwoods.fedorapeople.org/hot-dog/plymouth-theme-hot-dog-0.4-1.fc16.noarch.rpm"},
				"pipeline":{"id":"2","name":"hot-dog"},"generated_at":"2018-01-01T00:00:00Z","version":"0.2.1"}`,
			summary: "CI: build of uncontrolled-build plymouth-theme-hot-dog-0.4-1.fc16 finished",
			url:     "https://wwoods.fedorapeople.org/hot-dog/plymouth-theme-hot-dog-0.4-1.fc16.noarch.rpm"}).same(),
		ci(ncCase{name: "uncontrolled-build.test.complete", topic: "uncontrolled-build.test.complete",
			body: `{"artifact":{"type":"uncontrolled-build","nvr":"plymouth-theme-hot-dog-0.4-1.fc16",
				"url":"https://wwoods.fedorapeople.org/hot-dog/plymouth-theme-hot-dog-0.4-1.fc16.noarch.rpm"},
				"run":{"url":"http://wizard.zone/job/hot-dog/1337","log":"http://wizard.zone/job/hot-dog/1337/console"},
				"test":{"type":"tier1","category":"functional","namespace":"wizard","result":"passed"}}`,
			summary: "CI: tier1 test of uncontrolled-build plymouth-theme-hot-dog-0.4-1.fc16 finished",
			url:     "http://wizard.zone/job/hot-dog/1337"}).same(),
		ci(ncCase{name: "fedora-update.test.complete", topic: "fedora-update.test.complete",
			body: `{"artifact":{"type":"fedora-update","alias":"FEDORA-2019-6bda4c81f4","id":"FEDORA-2019-6bda4c81f4","release":"F30"},
				"run":{"url":"https://openqa.stg.fedoraproject.org/tests/583271","log":"https://openqa.stg.fedoraproject.org/tests/583271/file/autoinst-log.txt"},
				"test":{"type":"install_default_update_live uefi updates-workstation-live-iso x86_64","category":"validation","namespace":"openqa","result":"passed"}}`,
			summary: "CI: install_default_update_live uefi updates-workstation-live-iso x86_64 test of fedora-update FEDORA-2019-6bda4c81f4 finished",
			url:     "https://openqa.stg.fedoraproject.org/tests/583271"}).same(),

		// Every other branch, on bus topics.
		ci(ncCase{name: "koji-build test running, no test type", topic: "org.fedoraproject.prod.ci.koji-build.test.running",
			body:    `{"artifact":{"type":"koji-build","id":41597367,"nvr":"bash-5.1.8-2.fc35","component":"bash"},"run":{"url":"https://jenkins.example/job/1"},"test":{"category":"functional"}}`,
			summary: "CI: test of koji-build bash-5.1.8-2.fc35 started", url: "https://jenkins.example/job/1"}).same(),
		ci(ncCase{name: "error status, descriptor before nvr", topic: "org.fedoraproject.prod.ci.koji-build.test.error",
			body:    `{"artifact":{"descriptor":"bash@f35","nvr":"bash-5.1.8-2.fc35"},"run":{"url":""},"test":{"type":"","category":"x"}}`,
			summary: "CI: test of koji-build bash@f35 failed"}).same(),
		ci(ncCase{name: "unknown status is None, numeric id", topic: "org.fedoraproject.prod.ci.koji-build-group.build.gated",
			body:    `{"artifact":{"descriptor":"","nvr":null,"alias":0,"id":12345}}`,
			summary: "CI: build of koji-build-group 12345 None"}).same(),
		ci(ncCase{name: "no artifact", topic: "org.fedoraproject.prod.ci.dist-git-pr.test.queued",
			body:    `{"run":{"url":"https://ci.example/1"}}`,
			summary: "CI: test of dist-git-pr <unknown> was queued", url: "https://ci.example/1"}).same(),
		ci(ncCase{name: "artifact url when run has none", topic: "org.centos.prod.ci.container-image.test.complete",
			body:    `{"artifact":{"id":"sha256:abc","url":"https://registry.example/img"},"run":{"log":"x"}}`,
			summary: "CI: test of container-image sha256:abc finished", url: "https://registry.example/img"}).same(),

		// Bodies of the wrong shape, where Python raises: fmn reads on as
		// if the member were absent.
		ci(ncCase{name: "null test", topic: "org.fedoraproject.prod.ci.koji-build.test.complete",
			body:    `{"artifact":{"nvr":"a-1-1"},"test":null,"run":null}`,
			summary: "CI: test of koji-build a-1-1 finished",
			raises:  "summary and __str__ (None has no get), url (likewise)"}).same(),
		ci(ncCase{name: "non-string test type", topic: "org.fedoraproject.prod.ci.koji-build.test.complete",
			body:    `{"artifact":null,"test":{"type":5}}`,
			summary: "CI: 5 test of koji-build <unknown> finished",
			raises:  "summary and __str__ (int + str; and artifact None has no get)"}).same(),
		ci(ncCase{name: "body not an object", topic: "org.fedoraproject.prod.ci.koji-build.test.complete",
			body:    `["x"]`,
			summary: "CI: test of koji-build <unknown> finished",
			raises:  "summary, __str__ and url (a list has no get)"}).same(),
		ci(ncCase{name: "topic of two tokens", topic: "ci.complete",
			body:   `{"artifact":{"nvr":"a-1-1"},"run":{"url":"https://ci.example/2"}}`,
			url:    "https://ci.example/2",
			raises: "summary and __str__ (three topic tokens to unpack): the topic and the base text stand"}),
	}
	ncRun(t, cases)
}

func TestNoCorpusApplications(t *testing.T) {
	t.Parallel()
	apps := map[string]bool{}
	for _, a := range KnownApplications() {
		apps[a] = true
	}
	for _, want := range []string{"elections", "fedora-image-uploader", "mdapi"} {
		if !apps[want] {
			t.Errorf("KnownApplications() misses %q", want)
		}
	}
	// CIMessageV1 has no app_name.
	if s := DefaultRegistry.Lookup("ci_messages.CIMessageV1"); s == nil || s.App != "" {
		t.Errorf("ci_messages.CIMessageV1: %+v, want a schema without app", s)
	}
}
