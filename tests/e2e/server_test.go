package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
	maxLogDump   = 64 << 10
)

// Server is one server process (shadowreg, or the reference registry when
// SHADOWREG_E2E_TARGET=reference) on 127.0.0.1 with its own data directory.
// Restart keeps the port and the data directory.
type Server struct {
	t       testing.TB
	Addr    string // 127.0.0.1:PORT
	URL     string // http://127.0.0.1:PORT
	DataDir string
	args    []string
	logs    *syncBuffer

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	waitErr error         // exit status of the current process
	// expectExit is set before we signal the process so that the watcher
	// does not report the exit as a crash.
	expectExit bool
	crashed    error
	starts     int
}

// startServer starts a server on a free port with a fresh data directory and
// waits until GET /v2/ answers 200. It is stopped with SIGTERM at cleanup;
// a non-zero exit status then, an unexpected exit, or a panic in the logs
// fails the test. The server's stderr is printed when the test fails.
func startServer(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	if setupErr != nil {
		t.Fatalf("cannot start the server: %v", setupErr)
	}
	s := &Server{
		t:       t,
		DataDir: t.TempDir(),
		args:    extraArgs,
		logs:    &syncBuffer{},
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		s.URL = "http://" + s.Addr
		if lastErr = s.start(); lastErr == nil {
			break
		}
		// The port may have been taken between freePort and the bind: retry
		// on another port, but only for that reason.
		if !strings.Contains(s.logs.String(), "address already in use") {
			break
		}
	}
	if lastErr != nil {
		s.dumpLogs()
		t.Fatalf("starting server: %v", lastErr)
	}
	t.Cleanup(s.cleanup)
	return s
}

func (s *Server) command() (*exec.Cmd, error) {
	if target == targetReference {
		cfgDir := filepath.Join(filepath.Dir(s.DataDir), "refcfg")
		if err := os.MkdirAll(cfgDir, 0o755); err != nil {
			return nil, err
		}
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: e2e-fixed-secret-so-upload-state-survives-restarts
  draintimeout: 5s
`, s.DataDir, s.Addr)
		cfgPath := filepath.Join(cfgDir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		cmd := exec.Command(serverBin, "serve", cfgPath)
		cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
		return cmd, nil
	}
	args := append([]string{"serve", "--listen", s.Addr, "--data-dir", s.DataDir}, s.args...)
	return exec.Command(serverBin, args...), nil
}

func (s *Server) start() error {
	done, err := s.spawn()
	if err != nil {
		return err
	}
	return s.waitReady(done)
}

// exitErr is the exit status of the last process, once it has exited.
func (s *Server) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waitErr
}

// spawn starts the server process and returns a channel closed when it
// exits; a process that exits without Stop or Kill is recorded as crashed.
func (s *Server) spawn() (chan struct{}, error) {
	cmd, err := s.command()
	if err != nil {
		return nil, err
	}
	s.starts++
	fmt.Fprintf(s.logs, "=== start #%d: %s\n", s.starts, strings.Join(cmd.Args, " "))
	cmd.Stdout = s.logs
	cmd.Stderr = s.logs
	// Own process group, so that a Ctrl-C on the test does not hit it first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", serverBin, err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.done, s.expectExit, s.waitErr = cmd, done, false, nil
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.waitErr = err
		if !s.expectExit && s.crashed == nil {
			s.crashed = fmt.Errorf("server process exited unexpectedly: %v", err)
		}
		s.mu.Unlock()
		fmt.Fprintf(s.logs, "=== exit: %v\n", err)
		close(done)
	}()
	return done, nil
}

func (s *Server) waitReady(done chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("server exited before it was ready: %v", s.exitErr())
		default:
		}
		resp, err := client.Get(s.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.signal(syscall.SIGKILL)
	return fmt.Errorf("GET /v2/ did not answer 200 within %v", readyTimeout)
}

func (s *Server) signal(sig syscall.Signal) (done chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expectExit = true
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(sig)
	}
	return s.done
}

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Server) Kill() {
	s.t.Helper()
	done := s.signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		s.t.Fatalf("server did not die after SIGKILL")
	}
}

// Stop sends SIGTERM and waits for a clean exit (status 0).
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.stop(); err != nil {
		s.t.Error(err)
	}
}

func (s *Server) stop() error {
	s.mu.Lock()
	done := s.done
	exited := false
	select {
	case <-done:
		exited = true
	default:
	}
	s.mu.Unlock()
	if exited {
		return nil
	}
	s.signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		s.signal(syscall.SIGKILL)
		<-done
		return fmt.Errorf("server did not exit within %v of SIGTERM (killed)", stopTimeout)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waitErr != nil {
		return fmt.Errorf("server did not exit cleanly on SIGTERM: %v", s.waitErr)
	}
	return nil
}

// Restart starts the server again on the same port and data directory, after
// Kill or Stop (or stops it with SIGTERM first if it is still running).
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.stop(); err != nil {
		s.t.Error(err)
	}
	var err error
	// The port is ours, but give the kernel a moment if the bind races.
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		if !strings.Contains(s.logs.String(), "address already in use") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.dumpLogs()
	s.t.Fatalf("restarting server: %v", err)
}

func (s *Server) cleanup() {
	err := s.stop()
	s.mu.Lock()
	crashed := s.crashed
	s.mu.Unlock()
	if crashed != nil {
		s.t.Errorf("%v", crashed)
	}
	if err != nil {
		s.t.Errorf("%v", err)
	}
	logs := s.logs.String()
	for _, bad := range []string{"panic:", "WARNING: DATA RACE", "fatal error:"} {
		if strings.Contains(logs, bad) {
			s.t.Errorf("server log contains %q", bad)
		}
	}
	if s.t.Failed() {
		s.dumpLogs()
	}
}

func (s *Server) dumpLogs() {
	logs := s.logs.String()
	if len(logs) > maxLogDump {
		logs = "[… " + fmt.Sprint(len(logs)-maxLogDump) + " bytes cut …]\n" + logs[len(logs)-maxLogDump:]
	}
	s.t.Logf("server %s (data %s) log:\n%s", s.Addr, s.DataDir, logs)
}

// Logs returns everything the server wrote so far.
func (s *Server) Logs() string { return s.logs.String() }

// Ref returns "127.0.0.1:PORT/<repo>[:tag|@digest]" for clients.
func (s *Server) Ref(repoAndRef string) string { return s.Addr + "/" + repoAndRef }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testContext returns a context that ends a little before the test's deadline.
func testContext(t testing.TB, limit time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return ctx
}

var errNotFound = errors.New("not found")
