package bus

import (
	"slices"
	"strings"
	"testing"
)

// coprCase is a body and what fmn derives from it; raises notes where
// Python raises instead (the values are then fmn's own).
type coprCase struct {
	name, schema, body string
	agent, summary     string
	users              []string
	textBody           string // the end of the base text: the body the class holds
	raises             string
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
	tests := []coprCase{{
		name: "fedmsg envelope unwrapped", schema: "copr.build.start",
		body:    `{"username": "copr", "i": 1, "topic": "org.fedoraproject.prod.copr.build.start", "msg": ` + coprV1Body + `}`,
		agent:   "churchyard",
		summary: coprV1Prefix + " started.", users: []string{"churchyard"},
		textBody: "\nBody: {\n    \"build\": 945012,\n    \"chroot\": \"fedora-rawhide-x86_64\",\n",
	}, {
		name: "envelope with msg null: {}", schema: "copr.build.start",
		body:    `{"username": "copr", "msg": null}`,
		summary: `Copr Message in project "None/None": build None: chroot "None" started.`,
		raises:  "summary: KeyError 'owner'", textBody: "\nBody: {}",
	}, {
		name: "ended, the owner a user", schema: "copr.build.end",
		body:    coprWith(coprV1Body, "status", "1", "owner", `"praiskup"`),
		summary: `Copr Message in project "praiskup/python3.8": build 945012: chroot "fedora-rawhide-x86_64" ended as "succeeded".`,
		users:   []string{"churchyard", "praiskup"}, textBody: "\n    \"status\": 1,\n",
	}, {
		name: "ended, status True", schema: "copr.build.end", body: coprWith(coprV1Body, "status", "true"),
		summary: coprV1Prefix + ` ended as "succeeded".`, users: []string{"churchyard"},
	}, {
		name: "ended, status 1000", schema: "copr.build.end", body: coprWith(coprV1Body, "status", "1000"),
		summary: coprV1Prefix + ` ended as "unknown".`, users: []string{"churchyard"},
	}, {
		name: "ended, status 42", schema: "copr.build.end", body: coprWith(coprV1Body, "status", "42"),
		summary: coprV1Prefix + ` ended as "42".`, users: []string{"churchyard"},
		raises: "summary: KeyError 'num 42 is not mapped'",
	}, {
		name: "ended, status 1.0", schema: "copr.build.end", body: coprWith(coprV1Body, "status", "1.0"),
		summary: coprV1Prefix + ` ended as "1.0".`, users: []string{"churchyard"},
		raises: "summary: KeyError 1.0 (StatusEnum looks floats up by name)",
	}, {
		name: "chroot start, namespaced submitter", schema: "copr.chroot.start",
		body:    coprWith(coprV1Body, "user", `"github.com:churchyard"`),
		summary: coprV1Prefix + " started.",
	}, {
		name: "stomp end", schema: "copr.unused.build.end", body: coprStompBody,
		summary: coprStompPrefix + ` ended as "succeeded".`, users: []string{"praiskup"},
	}, {
		name: "stomp end, int() of padded and underscored numbers", schema: "copr.unused.build.end",
		body:    coprWith(coprStompBody, "status_int", `" 4 "`, "build", `"0_38_492"`),
		summary: coprStompPrefix + ` ended as "pending".`, users: []string{"praiskup"},
	}, {
		name: "stomp end, int() rejects", schema: "copr.unused.build.end",
		body:    coprWith(coprStompBody, "status_int", `"x"`, "build", `"b-1"`),
		summary: `Copr Message in project "praiskup/ping": build b-1: chroot "fedora-rawhide-x86_64" ended as "succeeded".`,
		users:   []string{"praiskup"},
		raises:  "summary: ValueError invalid literal for int()",
	}, {
		name: "stomp start, a group", schema: "copr.unused.build.start",
		body:    coprWith(coprStompBody, "submitter", `"@grp"`, "owner", `"@grp"`),
		agent:   "@grp",
		summary: `Copr Message in project "@grp/ping": build 38492: chroot "fedora-rawhide-x86_64" started.`,
	}, {
		name: "stomp start, submitter None (a string)", schema: "copr.unused.build.start",
		body:    coprWith(coprStompBody, "submitter", `"None"`),
		agent:   "None",
		summary: coprStompPrefix + " started.", users: []string{"None", "praiskup"},
	}, {
		name: "stomp chroot start", schema: "copr.unused.chroot.start", body: `{"chroot": "fedora-29-x86_64"}`,
		summary: "Unspecified Copr message", textBody: "\nBody: {\n    \"chroot\": \"fedora-29-x86_64\"\n}",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, "org.fedoraproject.prod.copr.x", hdr(HeaderSchema, tt.schema), tt.body)
			if tt.raises != "" {
				t.Logf("Python raises (%s); fmn derives these values", tt.raises)
			}
			if p.ExtractError != "" {
				t.Fatalf("extract error: %s", p.ExtractError)
			}
			if p.App != "Copr" || p.URL != "" || len(p.Packages) != 0 || p.Text != "" {
				t.Errorf("app %q, url %q, packages %q, text %q: want Copr and the base class's", p.App, p.URL, p.Packages, p.Text)
			}
			if p.Agent != tt.agent {
				t.Errorf("agent = %q, want %q", p.Agent, tt.agent)
			}
			if p.Summary != tt.summary {
				t.Errorf("summary:\n got  %q\n want %q", p.Summary, tt.summary)
			}
			if !slices.Equal(p.Usernames, tt.users) {
				t.Errorf("usernames = %q, want %q", p.Usernames, tt.users)
			}
			text := p.DisplayText()
			if strings.Contains(text, `"username"`) || !strings.Contains(text, tt.textBody) {
				t.Errorf("text does not hold %q without the envelope:\n%s", tt.textBody, text)
			}
		})
	}
}
