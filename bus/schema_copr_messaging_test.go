package bus

import (
	"strings"
	"testing"
)

// The expected values are what the Python classes compute, except where
// raises says Python raises: then they are what fmn derives. Every class
// keeps the base class's text, a dump of the body it holds: coprText
// checks that the envelope is gone from it.

// coprText checks that the text dumps the unwrapped body (no envelope
// member left) and holds textBody.
func coprText(textBody string) func(t *testing.T, p *Parsed) {
	return func(t *testing.T, p *Parsed) {
		if text := p.DisplayText(); strings.Contains(text, `"username"`) || !strings.Contains(text, textBody) {
			t.Errorf("text does not hold %q without the envelope:\n%s", textBody, text)
		}
	}
}

const (
	coprV1Body = `{"status": 3, "what": "build start: user:churchyard copr:python3.8 pkg:python-hypothesis build:945012",
		"chroot": "fedora-rawhide-x86_64", "ip": "172.25.93.20", "user": "churchyard", "who": "backend.worker-23551-PC",
		"pid": 3762, "copr": "python3.8", "version": "4.23.8-1.fc31", "build": 945012, "owner": "@python", "pkg": "python-hypothesis"}`
	coprStompBody = `{"build": "38492", "owner": "praiskup", "copr": "ping", "submitter": "praiskup",
		"package": "dummy-pkg-1:20190701_2127-0", "chroot": "fedora-rawhide-x86_64", "builder": "10.0.150.161",
		"status": "SUCCEEDED", "status_int": "1"}`
	coprV1Prefix    = `Copr Message in project "@python/python3.8": build 945012: chroot "fedora-rawhide-x86_64"`
	coprStompPrefix = `Copr Message in project "praiskup/ping": build 38492: chroot "fedora-rawhide-x86_64"`
)

// coprWith returns body with members replaced (JSON text values).
func coprWith(body string, kv ...string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		v := ValueOf([]byte(body)).Get(kv[i])
		body = strings.Replace(body, `"`+kv[i]+`": `+string(v.Raw()), `"`+kv[i]+`": `+kv[i+1], 1)
	}
	return body
}

func TestCopr(t *testing.T) {
	t.Parallel()
	tests := []schemaCase{
		{name: "fedmsg envelope unwrapped", schema: "copr.build.start",
			body:  `{"username": "copr", "i": 1, "topic": "org.fedoraproject.prod.copr.build.start", "msg": ` + coprV1Body + `}`,
			check: coprText("\nBody: {\n    \"build\": 945012,\n    \"chroot\": \"fedora-rawhide-x86_64\",\n"),
			want: schemaWant{App: "Copr", Agent: "churchyard", Summary: coprV1Prefix + " started.",
				Users: []string{"churchyard"}}},
		{name: "envelope with msg null: {}", schema: "copr.build.start",
			body:   `{"username": "copr", "msg": null}`,
			raises: "summary: KeyError 'owner'",
			check:  coprText("\nBody: {}"),
			want:   schemaWant{App: "Copr", Summary: `Copr Message in project "None/None": build None: chroot "None" started.`}},
		{name: "ended, the owner a user", schema: "copr.build.end",
			body:  coprWith(coprV1Body, "status", "1", "owner", `"praiskup"`),
			check: coprText("\n    \"status\": 1,\n"),
			want: schemaWant{App: "Copr",
				Summary: `Copr Message in project "praiskup/python3.8": build 945012: chroot "fedora-rawhide-x86_64" ended as "succeeded".`,
				Users:   []string{"churchyard", "praiskup"}}},
		{name: "ended, status True", schema: "copr.build.end",
			body: coprWith(coprV1Body, "status", "true"),
			want: schemaWant{App: "Copr", Summary: coprV1Prefix + ` ended as "succeeded".`, Users: []string{"churchyard"}}},
		{name: "ended, status 1000", schema: "copr.build.end",
			body: coprWith(coprV1Body, "status", "1000"),
			want: schemaWant{App: "Copr", Summary: coprV1Prefix + ` ended as "unknown".`, Users: []string{"churchyard"}}},
		{name: "ended, status 42", schema: "copr.build.end",
			body:   coprWith(coprV1Body, "status", "42"),
			raises: "summary: KeyError 'num 42 is not mapped'",
			want:   schemaWant{App: "Copr", Summary: coprV1Prefix + ` ended as "42".`, Users: []string{"churchyard"}}},
		{name: "ended, status 1.0", schema: "copr.build.end",
			body:   coprWith(coprV1Body, "status", "1.0"),
			raises: "summary: KeyError 1.0 (StatusEnum looks floats up by name)",
			want:   schemaWant{App: "Copr", Summary: coprV1Prefix + ` ended as "1.0".`, Users: []string{"churchyard"}}},
		{name: "chroot start, namespaced submitter", schema: "copr.chroot.start",
			body: coprWith(coprV1Body, "user", `"github.com:churchyard"`),
			want: schemaWant{App: "Copr", Summary: coprV1Prefix + " started."}},
		{name: "stomp end", schema: "copr.unused.build.end",
			body: coprStompBody,
			want: schemaWant{App: "Copr", Summary: coprStompPrefix + ` ended as "succeeded".`, Users: []string{"praiskup"}}},
		{name: "stomp end, int() of padded and underscored numbers", schema: "copr.unused.build.end",
			body: coprWith(coprStompBody, "status_int", `" 4 "`, "build", `"0_38_492"`),
			want: schemaWant{App: "Copr", Summary: coprStompPrefix + ` ended as "pending".`, Users: []string{"praiskup"}}},
		{name: "stomp end, int() rejects", schema: "copr.unused.build.end",
			body:   coprWith(coprStompBody, "status_int", `"x"`, "build", `"b-1"`),
			raises: "summary: ValueError invalid literal for int()",
			want: schemaWant{App: "Copr",
				Summary: `Copr Message in project "praiskup/ping": build b-1: chroot "fedora-rawhide-x86_64" ended as "succeeded".`,
				Users:   []string{"praiskup"}}},
		{name: "stomp start, a group", schema: "copr.unused.build.start",
			body: coprWith(coprStompBody, "submitter", `"@grp"`, "owner", `"@grp"`),
			want: schemaWant{App: "Copr", Agent: "@grp",
				Summary: `Copr Message in project "@grp/ping": build 38492: chroot "fedora-rawhide-x86_64" started.`}},
		{name: "stomp start, submitter None (a string)", schema: "copr.unused.build.start",
			body: coprWith(coprStompBody, "submitter", `"None"`),
			want: schemaWant{App: "Copr", Agent: "None", Summary: coprStompPrefix + " started.",
				Users: []string{"None", "praiskup"}}},
		{name: "stomp chroot start", schema: "copr.unused.chroot.start",
			body:  `{"chroot": "fedora-29-x86_64"}`,
			check: coprText("\nBody: {\n    \"chroot\": \"fedora-29-x86_64\"\n}"),
			want:  schemaWant{App: "Copr", Summary: "Unspecified Copr message"}},
	}
	for i := range tests {
		if tests[i].check == nil {
			tests[i].check = coprText("")
		}
	}
	schemaRun(t, tests)
}
