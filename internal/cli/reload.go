package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/appserver-go/appserver/wstransport"
)

// reloadDebounce coalesces the burst of events an editor or a secret
// mount makes when it replaces a file.
const reloadDebounce = 200 * time.Millisecond

// reloader re-reads the credential and the TLS certificate on SIGHUP and
// when their files change, so they can be rotated without a restart. A new
// credential that fails validation is not applied: the old one stays in
// force and the reason is logged.
type reloader struct {
	m       *Main
	cfg     *serveConfig
	logger  *slog.Logger
	handler *wstransport.Handler
	certs   *certHolder

	mu      sync.Mutex
	current string // identity of the credential in force
}

// start begins watching; the returned func stops it.
func (r *reloader) start(ctx context.Context) (func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)

	var files []string
	if r.cfg.auth.tokenFile != nil {
		files = append(files, *r.cfg.auth.tokenFile)
	}
	if r.cfg.auth.secretFile != nil {
		files = append(files, *r.cfg.auth.secretFile)
	}
	if r.certs != nil {
		files = append(files, r.certs.certFile, r.certs.keyFile)
	}
	var w *fsnotify.Watcher
	names := map[string]bool{} // absolute paths of watched files
	if len(files) > 0 {
		var err error
		if w, err = fsnotify.NewWatcher(); err != nil {
			cancel()
			signal.Stop(hup)
			return nil, fmt.Errorf("watching credential files: %w", err)
		}
		dirs := map[string]bool{}
		for _, f := range files {
			abs, err := filepath.Abs(f)
			if err != nil {
				continue
			}
			names[abs] = true
			// Watch the directory, not the file: editors and secret mounts
			// replace files by rename, which a watch on the file would miss.
			dirs[filepath.Dir(abs)] = true
		}
		for d := range dirs {
			if err := w.Add(d); err != nil {
				r.logger.Warn("cannot watch a credential directory; rotate with SIGHUP instead", "dir", d, "err", err)
			}
		}
	}

	trigger := make(chan string, 1)
	var timer *time.Timer
	schedule := func(why string) {
		if timer != nil {
			timer.Stop()
		}
		timer = time.AfterFunc(reloadDebounce, func() {
			select {
			case trigger <- why:
			default:
			}
		})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var events chan fsnotify.Event
		var errs chan error
		if w != nil {
			events, errs = w.Events, w.Errors
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				r.reload("SIGHUP")
			case ev, ok := <-events:
				if !ok {
					events = nil
					continue
				}
				// A Kubernetes secret mount swaps a "..data" symlink; an
				// editor renames a temporary file over ours.
				if names[ev.Name] || strings.HasPrefix(filepath.Base(ev.Name), "..data") {
					schedule("file change: " + filepath.Base(ev.Name))
				}
			case err, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				r.logger.Warn("watching credential files", "err", err)
			case why := <-trigger:
				r.reload(why)
			}
		}
	}()
	return func() {
		cancel()
		signal.Stop(hup)
		if w != nil {
			_ = w.Close()
		}
		wg.Wait()
		if timer != nil {
			timer.Stop()
		}
	}, nil
}

// reload re-reads the credential and the certificate.
func (r *reloader) reload(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.certs != nil {
		if err := r.certs.load(); err != nil {
			r.logger.Error("TLS certificate reload failed; keeping the old certificate", "why", why, "err", err)
		} else {
			r.logger.Info("TLS certificate reloaded", "why", why, "notAfter", r.certs.notAfter())
		}
	}
	if r.cfg.auth.mode == "" {
		return
	}
	next, err := r.cfg.auth.build(r.m, r.cfg, r.logger)
	if err != nil {
		r.logger.Error("credential reload failed; keeping the old credential", "why", why, "err", err)
		return
	}
	if next.identity == r.current {
		r.logger.Debug("credential unchanged", "why", why)
		return
	}
	if err := r.handler.SetVerifier(next.verifier); err != nil {
		r.logger.Error("credential reload failed; keeping the old credential", "why", why, "err", err)
		return
	}
	r.current = next.identity
	r.logger.Info("credential rotated; new upgrades use it", "why", why, "auth", next.source, "closeOldSessions", r.cfg.closeOnRotate)
}

// certHolder serves the current TLS certificate to the TLS stack.
type certHolder struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

func newCertHolder(certFile, keyFile string) (*certHolder, error) {
	h := &certHolder{certFile: certFile, keyFile: keyFile}
	if err := h.load(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *certHolder) load() error {
	c, err := tls.LoadX509KeyPair(h.certFile, h.keyFile)
	if err != nil {
		return fmt.Errorf("loading the TLS certificate: %w", err)
	}
	if c.Leaf == nil && len(c.Certificate) > 0 {
		c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	h.cert.Store(&c)
	return nil
}

func (h *certHolder) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return h.cert.Load(), nil
}

func (h *certHolder) notAfter() time.Time {
	if c := h.cert.Load(); c != nil && c.Leaf != nil {
		return c.Leaf.NotAfter
	}
	return time.Time{}
}
