package app_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startConfiguredNATS runs an in-process nats-server with JetStream and
// the configuration conf (without listen and jetstream), and returns the
// port it listens on.
func startConfiguredNATS(t *testing.T, conf string) int {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "nats-server.conf")
	conf = fmt.Sprintf("listen: 127.0.0.1:-1\njetstream { store_dir: %q }\n", filepath.Join(dir, "js")) + conf
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(srv.Shutdown)
	return srv.Addr().(*net.TCPAddr).Port
}

// createStreams sets up fmn's streams on the server at url as a server
// would, connecting with auth (commands do not create them).
func createStreams(t *testing.T, url string, auth config.NATSAuth) {
	t.Helper()
	opts, err := auth.NATSOptions()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := streams.Ensure(fmntest.Context(t), js, streams.Defaults(), nil); err != nil {
		t.Fatal(err)
	}
}

// publishFile writes one bus message (id) into a file for fmn publish.
func publishFile(t *testing.T, id string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "msg.json")
	msg := `{"id":"` + id + `","topic":"org.fedoraproject.prod.bodhi.update.comment","headers":{},"body":{"agent":"bob"}}`
	if err := os.WriteFile(path, []byte(msg+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNATSTLSWithClientCertificate: a nats-server that requires TLS with
// client certificates of its CA, and a password. fmn connects with
// FMN_NATS_TLS_CA, FMN_NATS_TLS_CERT and FMN_NATS_TLS_KEY; without its
// certificate, with another CA, or with a wrong password it fails at start
// naming FMN_NATS_URL and the settings in use, and no password shows.
func TestNATSTLSWithClientCertificate(t *testing.T) {
	t.Parallel()
	tf := fmntest.WriteTLSFiles(t, "fmn-publish")
	other := fmntest.WriteTLSFiles(t, "fmn-publish")
	const password = "Nats-pa55-w0rd"
	port := startConfiguredNATS(t, fmt.Sprintf(`
tls {
  cert_file: %q
  key_file: %q
  ca_file: %q
  verify: true
  timeout: 5
}
authorization { users: [ { user: fmn, password: %q } ] }
`, tf.ServerCert, tf.ServerKey, tf.CA, password))
	url := fmt.Sprintf("tls://127.0.0.1:%d", port)
	msg := publishFile(t, "0c5e7d4a-53f1-4f3e-8d52-1a8e2b3c4d5e")
	createStreams(t, url, config.NATSAuth{User: "fmn", Password: password, TLSCA: tf.CA, TLSCert: tf.ClientCert, TLSKey: tf.ClientKey})

	tlsFlags := []string{"--nats-tls-ca", tf.CA, "--nats-tls-cert", tf.ClientCert, "--nats-tls-key", tf.ClientKey}
	args := func(extra ...string) []string {
		return append(append([]string{"publish", "--nats-url", url}, extra...), msg)
	}
	if code, out, errs := runCLI(t, "", args(append(tlsFlags, "--nats-user", "fmn", "--nats-password", password)...)...); code != 0 || !strings.Contains(out, "published 1") {
		t.Fatalf("publish over TLS with a client certificate: %d %s %s", code, out, errs)
	}
	// The password in the URL works too, and is redacted.
	userURL := fmt.Sprintf("tls://fmn:%s@127.0.0.1:%d", password, port)
	if code, out, errs := runCLI(t, "", append([]string{"publish", "--nats-url", userURL}, append(tlsFlags, msg)...)...); code != 0 || !strings.Contains(out, "duplicates 1") {
		t.Fatalf("publish with the password in FMN_NATS_URL: %d %s %s", code, out, errs)
	}

	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"no client certificate", args("--nats-tls-ca", tf.CA, "--nats-user", "fmn", "--nats-password", password),
			[]string{"FMN_NATS_URL: cannot connect to NATS at " + url, "user fmn (FMN_NATS_USER); TLS, CA FMN_NATS_TLS_CA=" + tf.CA}},
		{"another CA", args("--nats-tls-ca", other.CA, "--nats-tls-cert", other.ClientCert, "--nats-tls-key", other.ClientKey, "--nats-user", "fmn", "--nats-password", password),
			[]string{"FMN_NATS_URL: cannot connect", "certificate signed by unknown authority"}},
		{"wrong password", args(append(tlsFlags, "--nats-user", "fmn", "--nats-password", "not-"+password)...),
			[]string{"FMN_NATS_URL: cannot connect", "user fmn (FMN_NATS_USER)", "Authorization Violation"}},
		{"wrong password in the URL", append([]string{"publish", "--nats-url", fmt.Sprintf("tls://fmn:not-%s@127.0.0.1:%d", password, port)}, append(tlsFlags, msg)...),
			[]string{"FMN_NATS_URL: cannot connect to NATS at tls://fmn:<secret>@127.0.0.1", "user fmn (in FMN_NATS_URL)", "Authorization Violation"}},
	} {
		code, out, errs := runCLI(t, "", c.args...)
		if code == 0 {
			t.Errorf("%s: published: %s", c.name, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: %q lacks %q", c.name, errs, w)
			}
		}
		if strings.Contains(errs, password) {
			t.Errorf("%s: the password shows: %s", c.name, errs)
		}
	}
}

// TestNATSCredentialsFile: a nats-server in operator (JWT) mode; fmn
// connects with a .creds file as nsc writes it, and a user's permissions
// in its JWT hold.
func TestNATSCredentialsFile(t *testing.T) {
	t.Parallel()
	op := fmntest.NewNATSOperator(t)
	port := startConfiguredNATS(t, op.ServerConfig())
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	msg := publishFile(t, "6f2d8a1c-7b3e-4c5d-9e0f-1a2b3c4d5e6f")
	creds := op.Creds(t, "fmn-admin", nil, nil)
	createStreams(t, url, config.NATSAuth{CredsFile: creds})
	if code, out, errs := runCLI(t, "", "publish", "--nats-url", url, "--nats-creds", creds, msg); code != 0 || !strings.Contains(out, "published 1") {
		t.Fatalf("publish with a credentials file: %d %s %s", code, out, errs)
	}
	// A user of the account that may publish rule events only cannot
	// publish bus messages: its JWT's permissions hold.
	limited := config.NATSAuth{CredsFile: op.Creds(t, "fmn-limited", []string{"rules.>"}, []string{"_INBOX.>"})}
	opts, err := limited.NATSOptions()
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	nc, err := nats.Connect(url, append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("rules.user.alice", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("bus.org.fedoraproject.prod.x", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	expectViolation(t, errs, "bus.org.fedoraproject.prod.x")
	other := fmntest.NewNATSOperator(t).Creds(t, "stranger", nil, nil)
	if code, _, errs := runCLI(t, "", "publish", "--nats-url", url, "--nats-creds", other, msg); code == 0 ||
		!strings.Contains(errs, "credentials FMN_NATS_CREDS="+other) {
		t.Errorf("a stranger's credentials: %d %s", code, errs)
	}
}
