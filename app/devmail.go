package app

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// devMail is the mail sink of `fmn dev` when no FMN_SMTP_URL is set: a
// loopback SMTP server that saves each message as an .eml file and logs
// its subject, so a newcomer sees emails without a mail server.
type devMail struct {
	dir  string
	log  *slog.Logger
	srv  *smtp.Server
	addr string
	n    atomic.Int64
}

func startDevMail(dir string, log *slog.Logger) (*devMail, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &devMail{dir: dir, log: log}
	l, err := net.Listen("tcp", "127.0.0.1:2525")
	if err != nil {
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
	}
	d.addr = l.Addr().String()
	d.srv = smtp.NewServer(d)
	d.srv.Domain = "localhost"
	d.srv.ReadTimeout = time.Minute
	d.srv.WriteTimeout = time.Minute
	d.srv.MaxMessageBytes = 10 << 20
	go func() { _ = d.srv.Serve(l) }()
	return d, nil
}

func (d *devMail) Close() error { return d.srv.Close() }

func (d *devMail) NewSession(*smtp.Conn) (smtp.Session, error) { return &devSession{d: d}, nil }

type devSession struct {
	d    *devMail
	from string
	to   []string
}

func (s *devSession) Reset()        { s.from, s.to = "", nil }
func (s *devSession) Logout() error { return nil }
func (s *devSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *devSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *devSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	n := s.d.n.Add(1)
	name := filepath.Join(s.d.dir, fmt.Sprintf("%s-%04d.eml", time.Now().UTC().Format("20060102T150405"), n))
	if err := os.WriteFile(name, b, 0o644); err != nil {
		return err
	}
	subject := ""
	if m, err := mail.ReadMessage(bytes.NewReader(b)); err == nil {
		dec := new(mime.WordDecoder)
		subject, _ = dec.DecodeHeader(m.Header.Get("Subject"))
	}
	s.d.log.Info("dev mail received", "to", s.to, "subject", subject, "file", name)
	return nil
}
