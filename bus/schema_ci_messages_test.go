package bus

import "testing"

// The tests of the packages without corpus messages (ci-messages,
// fedora-elections-messages, fedora-image-uploader-messages,
// mdapi-messages): the bodies come from the packages' own tests (or, where
// those load fixture files that could not be read, are rebuilt from what
// the tests assert of them); the expected values are what the Python class
// computes, the tests' own assertions where they make some.

func TestCIMessagesSchema(t *testing.T) {
	t.Parallel()
	const schema = "ci_messages.CIMessageV1"
	ci := func(c schemaCase) schemaCase { c.schema = schema; return c }
	cases := []schemaCase{
		// The five messages of the package's tests/test_schema.py, on
		// their bare topics as the tests give them (the fixture files of
		// tests/examples were not readable: each body holds what the
		// assertions depend on, in the shapes of the CI Messages spec).
		ci(schemaCase{name: "productmd-compose.test.complete", topic: "productmd-compose.test.complete",
			body: `{"artifact":{"type":"productmd-compose","id":"RHEL-ALT-7-20180101.n.0","compose_type":"nightly"},
				"run":{"url":"https://rtt.somewhere.com/job/compose-RHEL-ALT-7-nightly-tier2-acceptance/arch=aarch64,variant=Server/1/","log":"https://rtt.somewhere.com/job/compose-RHEL-ALT-7-nightly-tier2-acceptance/arch=aarch64,variant=Server/1/console"},
				"test":{"type":"acceptance","category":"functional","namespace":"rtt","result":"passed"},
				"pipeline":{"id":"4be1b7b8-3d1a-4b1e-9d4b-47c7ce2d2d7a","name":"rtt-acceptance"},"generated_at":"2018-01-01T00:00:00Z","version":"0.2.1"}`,
			want: schemaWant{Summary: "CI: acceptance test of productmd-compose RHEL-ALT-7-20180101.n.0 finished",
				URL: "https://rtt.somewhere.com/job/compose-RHEL-ALT-7-nightly-tier2-acceptance/arch=aarch64,variant=Server/1/"}}).strIsSummary(),
		ci(schemaCase{name: "brew-build.promote.queued", topic: "brew-build.promote.queued",
			body: `{"artifact":{"type":"brew-build","id":14546276,"issuer":"plautrba","component":"setup","nvr":"setup-2.8.71-7.el7_4","scratch":false,
				"source":"git+https://src.example.com/rpms/setup?#5e4ad15a01ec5e3ba1f6d79a4b1a0c1e1e4d6b7a"},
				"pipeline":{"id":"1","name":"promote"},"generated_at":"2018-01-01T00:00:00Z","version":"0.2.1"}`,
			want: schemaWant{Summary: "CI: promotion of brew-build setup-2.8.71-7.el7_4 was queued"}}).strIsSummary(),
		ci(schemaCase{name: "uncontrolled-build.build.complete", topic: "uncontrolled-build.build.complete",
			body: `{"artifact":{"type":"uncontrolled-build","nvr":"plymouth-theme-hot-dog-0.4-1.fc16",
				"url":"https://wwoods.fedorapeople.org/hot-dog/plymouth-theme-hot-dog-0.4-1.fc16.noarch.rpm"},
				"pipeline":{"id":"2","name":"hot-dog"},"generated_at":"2018-01-01T00:00:00Z","version":"0.2.1"}`,
			want: schemaWant{Summary: "CI: build of uncontrolled-build plymouth-theme-hot-dog-0.4-1.fc16 finished",
				URL: "https://wwoods.fedorapeople.org/hot-dog/plymouth-theme-hot-dog-0.4-1.fc16.noarch.rpm"}}).strIsSummary(),
		ci(schemaCase{name: "uncontrolled-build.test.complete", topic: "uncontrolled-build.test.complete",
			body: `{"artifact":{"type":"uncontrolled-build","nvr":"plymouth-theme-hot-dog-0.4-1.fc16",
				"url":"https://wwoods.fedorapeople.org/hot-dog/plymouth-theme-hot-dog-0.4-1.fc16.noarch.rpm"},
				"run":{"url":"http://wizard.zone/job/hot-dog/1337","log":"http://wizard.zone/job/hot-dog/1337/console"},
				"test":{"type":"tier1","category":"functional","namespace":"wizard","result":"passed"}}`,
			want: schemaWant{Summary: "CI: tier1 test of uncontrolled-build plymouth-theme-hot-dog-0.4-1.fc16 finished",
				URL: "http://wizard.zone/job/hot-dog/1337"}}).strIsSummary(),
		ci(schemaCase{name: "fedora-update.test.complete", topic: "fedora-update.test.complete",
			body: `{"artifact":{"type":"fedora-update","alias":"FEDORA-2019-6bda4c81f4","id":"FEDORA-2019-6bda4c81f4","release":"F30"},
				"run":{"url":"https://openqa.stg.fedoraproject.org/tests/583271","log":"https://openqa.stg.fedoraproject.org/tests/583271/file/autoinst-log.txt"},
				"test":{"type":"install_default_update_live uefi updates-workstation-live-iso x86_64","category":"validation","namespace":"openqa","result":"passed"}}`,
			want: schemaWant{Summary: "CI: install_default_update_live uefi updates-workstation-live-iso x86_64 test of fedora-update FEDORA-2019-6bda4c81f4 finished",
				URL: "https://openqa.stg.fedoraproject.org/tests/583271"}}).strIsSummary(),

		// Every other branch, on bus topics.
		ci(schemaCase{name: "koji-build test running, no test type", topic: "org.fedoraproject.prod.ci.koji-build.test.running",
			body: `{"artifact":{"type":"koji-build","id":41597367,"nvr":"bash-5.1.8-2.fc35","component":"bash"},"run":{"url":"https://jenkins.example/job/1"},"test":{"category":"functional"}}`,
			want: schemaWant{Summary: "CI: test of koji-build bash-5.1.8-2.fc35 started", URL: "https://jenkins.example/job/1"}}).strIsSummary(),
		ci(schemaCase{name: "error status, descriptor before nvr", topic: "org.fedoraproject.prod.ci.koji-build.test.error",
			body: `{"artifact":{"descriptor":"bash@f35","nvr":"bash-5.1.8-2.fc35"},"run":{"url":""},"test":{"type":"","category":"x"}}`,
			want: schemaWant{Summary: "CI: test of koji-build bash@f35 failed"}}).strIsSummary(),
		ci(schemaCase{name: "unknown status is None, numeric id", topic: "org.fedoraproject.prod.ci.koji-build-group.build.gated",
			body: `{"artifact":{"descriptor":"","nvr":null,"alias":0,"id":12345}}`,
			want: schemaWant{Summary: "CI: build of koji-build-group 12345 None"}}).strIsSummary(),
		ci(schemaCase{name: "no artifact", topic: "org.fedoraproject.prod.ci.dist-git-pr.test.queued",
			body: `{"run":{"url":"https://ci.example/1"}}`,
			want: schemaWant{Summary: "CI: test of dist-git-pr <unknown> was queued", URL: "https://ci.example/1"}}).strIsSummary(),
		ci(schemaCase{name: "artifact url when run has none", topic: "org.centos.prod.ci.container-image.test.complete",
			body: `{"artifact":{"id":"sha256:abc","url":"https://registry.example/img"},"run":{"log":"x"}}`,
			want: schemaWant{Summary: "CI: test of container-image sha256:abc finished", URL: "https://registry.example/img"}}).strIsSummary(),

		// Bodies of the wrong shape, where Python raises: fmn reads on as
		// if the member were absent.
		ci(schemaCase{name: "null test", topic: "org.fedoraproject.prod.ci.koji-build.test.complete",
			body:   `{"artifact":{"nvr":"a-1-1"},"test":null,"run":null}`,
			raises: "summary and __str__ (None has no get), url (likewise)",
			want:   schemaWant{Summary: "CI: test of koji-build a-1-1 finished"}}).strIsSummary(),
		ci(schemaCase{name: "non-string test type", topic: "org.fedoraproject.prod.ci.koji-build.test.complete",
			body:   `{"artifact":null,"test":{"type":5}}`,
			raises: "summary and __str__ (int + str; and artifact None has no get)",
			want:   schemaWant{Summary: "CI: 5 test of koji-build <unknown> finished"}}).strIsSummary(),
		ci(schemaCase{name: "body not an object", topic: "org.fedoraproject.prod.ci.koji-build.test.complete",
			body:   `["x"]`,
			raises: "summary, __str__ and url (a list has no get)",
			want:   schemaWant{Summary: "CI: test of koji-build <unknown> finished"}}).strIsSummary(),
		ci(schemaCase{name: "topic of two tokens", topic: "ci.complete",
			body:   `{"artifact":{"nvr":"a-1-1"},"run":{"url":"https://ci.example/2"}}`,
			raises: "summary and __str__ (three topic tokens to unpack): the topic and the base text stand",
			want:   schemaWant{URL: "https://ci.example/2"}}),
	}
	schemaRun(t, cases)
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
