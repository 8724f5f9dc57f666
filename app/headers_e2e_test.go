package app_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/rules"
)

// TestEmailMetadataHeaders: the email of a real Fedora message (a Bodhi
// comment, published to the AMQP bus as fedora-messaging does) carries its
// agent, usernames and packages as headers a mail client can filter on,
// one header per name as the old FMN's X-Fedmsg-* headers; the email of
// the same update grown to 14 builds lists 10 packages and the full number.
// Read from the mail the SMTP peer received.
func TestEmailMetadataHeaders(t *testing.T) {
	t.Parallel()
	const bodhiComment = "6b9ccb15-5570-569a-aff7-d9e8a58571df" // agent ralph; users codeblock, ralph, tdawson; rpms abrt-addon-python3, asciinema
	c := loadCorpusLines(t, bodhiComment)[bodhiComment]

	// The same comment on an update of 14 builds, under a new id.
	big := c
	big.ID = "0f4a2c1e-6a55-4d7e-9d0b-5d5e8f1b1c14"
	var body map[string]any
	if err := json.Unmarshal(c.Body, &body); err != nil {
		t.Fatal(err)
	}
	update := body["comment"].(map[string]any)["update"].(map[string]any)
	builds := update["builds"].([]any)
	big.Headers = maps.Clone(c.Headers)
	for i := range 12 {
		name := fmt.Sprintf("python-mod%02d", i)
		builds = append(builds, map[string]any{"nvr": name + "-1.0-1.fc41"})
		big.Headers["fedora_messaging_rpm_"+name] = json.RawMessage("true")
	}
	update["builds"] = builds
	var err error
	if big.Body, err = json.Marshal(body); err != nil {
		t.Fatal(err)
	}

	e := setupSystem(t)
	e.create(t, "erin", emailRule("ralph", rules.TrackingRule{Name: "users-followed", Params: json.RawMessage(`["ralph"]`)}, "erin@example.org"))
	e.publishCorpus(t, c)
	e.publishCorpus(t, big)
	fmntest.Eventually(t, 20*time.Second, "both emails", func() bool { return len(e.mailsTo("erin@example.org")) == 2 })

	headers := map[string]mail.Header{} // by bus message id
	for _, m := range e.mailsTo("erin@example.org") {
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			t.Fatal(err)
		}
		headers[msg.Header.Get(notification.HeaderBusMessageID)] = msg.Header
		for i, line := range strings.Split(string(m.Data), "\r\n") {
			if len(line) > 78 {
				t.Errorf("line %d is %d long: %q", i, len(line), line)
			}
		}
	}
	dec := new(mime.WordDecoder)
	values := func(h mail.Header, name string) []string {
		var out []string
		for _, v := range h[name] { // mail.Header keys are canonical MIME names
			s, err := dec.DecodeHeader(v)
			if err != nil {
				t.Errorf("%s: %q: %v", name, v, err)
			}
			out = append(out, s)
		}
		return out
	}

	h := headers[bodhiComment]
	if h == nil {
		t.Fatalf("no email for %s", bodhiComment)
	}
	for name, want := range map[string][]string{
		"X-Fedora-Messaging-Agent":         {"ralph"},
		"X-Fedora-Messaging-Username":      {"codeblock", "ralph", "tdawson"},
		"X-Fedora-Messaging-Num-Usernames": {"3"},
		"X-Fedora-Messaging-Package":       {"abrt-addon-python3", "asciinema"},
		"X-Fedora-Messaging-Num-Packages":  {"2"},
		"X-Fedora-Messaging-Topic":         {"org.fedoraproject.prod.bodhi.update.comment"},
		"X-Fedora-Messaging-App":           {"bodhi"},
		"X-Fedora-Messaging-Group":         nil,
	} {
		if got := values(h, name); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}

	h = headers[big.ID]
	if h == nil {
		t.Fatalf("no email for %s", big.ID)
	}
	pkgs := values(h, "X-Fedora-Messaging-Package")
	want := []string{"abrt-addon-python3", "asciinema"}
	for i := range 8 {
		want = append(want, fmt.Sprintf("python-mod%02d", i))
	}
	if !slices.Equal(pkgs, want) {
		t.Errorf("packages %q, want %q", pkgs, want)
	}
	if got := values(h, "X-Fedora-Messaging-Num-Packages"); !slices.Equal(got, []string{"14"}) {
		t.Errorf("Num-Packages %q, want 14", got)
	}
}
