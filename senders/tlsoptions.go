package senders

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
)

// TLSOptions are the TLS settings every sender's URL carries, as the
// parameters insecure_auth, tls_server_name, insecure_skip_verify and
// ca_file.
type TLSOptions struct {
	// InsecureAuth allows credentials over a connection without TLS, for
	// a peer on loopback (default false). Parameter insecure_auth=true.
	InsecureAuth bool
	// TLSServerName is the name the server's certificate must carry
	// (default the host). Parameter tls_server_name.
	TLSServerName string
	// InsecureSkipVerify accepts any server certificate, for development
	// only (default false). Parameter insecure_skip_verify=true.
	InsecureSkipVerify bool
	// RootCAs verifies the server's certificate (default the system's
	// roots). Parameter ca_file names a PEM file.
	RootCAs *x509.CertPool
}

// Param reads parameter k=v into o when it is one of the TLS parameters,
// recording a bad value in e, and tells whether it was.
func (o *TLSOptions) Param(e *Errs, k, v string) bool {
	switch k {
	case "insecure_auth":
		o.InsecureAuth = e.Bool(k, v)
	case "insecure_skip_verify":
		o.InsecureSkipVerify = e.Bool(k, v)
	case "tls_server_name":
		o.TLSServerName = v
	case "ca_file":
		o.RootCAs = e.CAFile(v)
	default:
		return false
	}
	return true
}

// Encode adds o's non-default parameters to q (ca_file cannot be shown:
// only the pool is kept).
func (o TLSOptions) Encode(q url.Values, host string) {
	if o.InsecureAuth {
		q.Set("insecure_auth", "true")
	}
	if o.InsecureSkipVerify {
		q.Set("insecure_skip_verify", "true")
	}
	if o.TLSServerName != "" && o.TLSServerName != host {
		q.Set("tls_server_name", o.TLSServerName)
	}
}

// ClientConfig is the client TLS configuration o describes.
func (o TLSOptions) ClientConfig() *tls.Config {
	return &tls.Config{
		ServerName:         o.TLSServerName,
		RootCAs:            o.RootCAs,
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // opt-in, for development
		MinVersion:         tls.VersionTLS12,
	}
}
