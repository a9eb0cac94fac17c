// Package browsertest drives headless Chromium from tests (through the
// DevTools protocol, github.com/chromedp/chromedp) and collects what the
// page reports: console messages, uncaught exceptions and browser log
// entries (failed loads, CSP violations).
//
// Tests call Open; without a chromium binary they skip with one line, and
// under CI=true they fail instead. It is imported by tests only.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Binary returns the Chromium to run: $CHROMIUM, else chromium or
// chromium-browser on PATH. Without one the test skips, or fails when
// CI=true.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("browser test: no chromium on PATH (apt-get install chromium), and CI=true")
	}
	t.Skip("browser test skipped: no chromium on PATH (apt-get install chromium, or set CHROMIUM)")
	return ""
}

// Page is one headless browser tab.
type Page struct {
	// Ctx runs chromedp actions in the tab (chromedp.Do, chromedp.Run).
	Ctx context.Context

	mu       sync.Mutex
	errors   []string
	messages []string
}

// Open starts a fresh headless Chromium (its own profile in a temporary
// directory) with a window of width × height and returns its tab, already
// listening to the console; Cleanup closes it.
func Open(t testing.TB, width, height int) *Page {
	t.Helper()
	bin := Binary(t)
	// The flags keep Chromium off the network it would otherwise call on
	// start (updates, sync, field trials): on a closed network those calls
	// only fail, slowly and loudly.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	p := &Page{Ctx: ctx}
	// Start the browser and the tab now, so the console subscription sees
	// the page from its first message. The first action's context must be
	// ctx itself: the browser lives as long as it.
	timer := time.AfterFunc(60*time.Second, cancelA)
	err := chromedp.Do(ctx)
	timer.Stop()
	if err != nil {
		cancelC()
		cancelA()
		t.Fatalf("starting %s: %v", bin, err)
	}
	done := p.listen(ctx)
	t.Cleanup(func() { cancelC(); cancelA(); <-done })
	return p
}

// NewTab opens another tab in p's browser, listening to its own console;
// Cleanup closes it.
func (p *Page) NewTab(t testing.TB) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(p.Ctx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("new tab: %v", err)
	}
	tab := &Page{Ctx: ctx}
	done := tab.listen(ctx)
	t.Cleanup(func() { cancel(); <-done })
	return tab
}

// listen collects the tab's console until ctx ends; the channel closes
// then.
func (p *Page) listen(ctx context.Context) <-chan struct{} {
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.add(m)
		}
	}()
	return done
}

// ArtifactPath is where a test saves a file for CI to keep: name under
// .ci/artifacts/ of the repository (git-ignored), created if missing.
func ArtifactPath(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, ".ci", "artifacts")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, name)
}

func (p *Page) add(m chromedp.ConsoleMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := m.String()
	if m.Source != "" {
		msg = m.Source + " " + msg
	}
	if m.URL != "" {
		msg += fmt.Sprintf(" (%s:%d)", m.URL, m.Line)
	}
	if m.Exception != nil && m.Exception.Exception != nil {
		msg += " " + m.Exception.Exception.Description
	}
	p.messages = append(p.messages, msg)
	if m.Type == chromedp.ConsoleError || m.IsException() {
		p.errors = append(p.errors, msg)
	}
}

// Errors returns the console errors, uncaught exceptions and browser log
// errors (failed loads, CSP violations) so far.
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...)
}

// Messages returns every console message and log entry so far.
func (p *Page) Messages() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.messages...)
}

// Do runs actions in the tab within timeout.
func (p *Page) Do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(p.Ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// Eval evaluates a JavaScript expression in the page and decodes its value.
func Eval[T any](p *Page, timeout time.Duration, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(p.Ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// Screenshot saves a PNG of the whole page to path.
func (p *Page) Screenshot(path string) error {
	ctx, cancel := context.WithTimeout(p.Ctx, 30*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	return os.WriteFile(path, buf, 0o644)
}
