package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// makers maps target keys to how they start. Cases name targets by these keys.
func makers() map[string]maker {
	return map[string]maker{
		// filesystem storage, nothing else
		"shadowreg":   startShadowreg,
		"reference":   startReference,
		"reference-b": startReference, // stands in for shadowreg with --ours reference
		"limit":       startLimit,
		// filesystem storage with auth: clients send a token, or a password
		"shadowreg-bearer": startShadowreg,
		"shadowreg-basic":  startShadowreg,
		// pull-through: the upstream registry, and caches in front of it
		"upstream":       startUpstream,
		"shadowreg-pt":   startShadowreg,
		"reference-pt":   startReference,
		"reference-pt-b": startReference,
		// S3 storage on one MinIO
		"minio":          startMinio,
		"shadowreg-s3":   startShadowreg,
		"reference-s3":   startReference,
		"reference-s3-b": startReference,
		// Swift storage on one Swift, measured against shadowreg on S3
		"swift":           startSwift,
		"shadowreg-swift": startShadowreg,
	}
}

// oursKey is the target that fills the "ours" column for a variant ("", "pt"
// for pull-through, "s3").
func (o *options) oursKey(variant string) string {
	suffix := ""
	if variant != "" {
		suffix = "-" + variant
	}
	if o.ours == "reference" {
		return "reference" + suffix + "-b"
	}
	return "shadowreg" + suffix
}

// variantOf is the part of a target key after the kind: "", "pt" or "s3".
func variantOf(key string) string {
	key = strings.TrimSuffix(key, "-b")
	if _, v, ok := strings.Cut(key, "-"); ok {
		return v
	}
	return ""
}

// colName is the column label of a registry target: shadowreg, reference or
// reference-b, whichever its backend (the case's row says which).
func colName(key string) string {
	if key == "shadowreg-swift" {
		return "swift" // its column faces shadowreg on S3 (the swift cases)
	}
	kind, v, _ := strings.Cut(key, "-")
	if v == "bearer" || v == "basic" {
		return v
	}
	if strings.HasSuffix(key, "-b") {
		return kind + "-b"
	}
	return kind
}

// serveProc starts argv, waits for GET /v2/ = 200 and wraps it as a Target.
func serveProc(ctx context.Context, l *lab, name, desc string, port int, argv []string, dir string) (*Target, error) {
	logPath := filepath.Join(dir, name+".log")
	p, err := startProc(name, argv, logPath)
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := p.waitReady(ctx, base, l.opt.readyTimeout); err != nil {
		p.stop()
		return nil, err
	}
	// freePort can race with other tenants: if our child lost the port and exited,
	// whatever answered /v2/ was someone else's server.
	select {
	case <-p.done:
		return nil, fmt.Errorf("%s exited right after start (%v):\n%s", name, p.err, tail(p.log, 20))
	case <-time.After(100 * time.Millisecond):
	}
	return &Target{Name: name, Desc: desc, URL: base, Client: newClient(l.opt.conc), Log: logPath, stop: p.stop}, nil
}

// startShadowreg runs shadowreg from a config file written here: filesystem
// storage in dir/data, or S3 on the lab's MinIO ("-s3" keys), with the upstream
// for docker.io ("-pt" keys), and with debug-listen (its pprof) under --profile.
func startShadowreg(ctx context.Context, l *lab, key, dir string) (*Target, error) {
	bin := l.opt.shadowregBin
	if err := needBinary(bin, "build it: go build -o .cache/shadowreg ./cmd/shadowreg, or pass --ours reference"); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	data := filepath.Join(dir, "data")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "listen: %s\ndata-dir: %s\n", listen, data)
	debug := ""
	if l.opt.profileDir != "" && l.opt.shadowregPprof == "" {
		dport, err := freePort()
		if err != nil {
			return nil, err
		}
		debug = fmt.Sprintf("127.0.0.1:%d", dport)
		fmt.Fprintf(&cfg, "debug-listen: %s\n", debug)
	}
	backend := "filesystem"
	argv := []string{bin, "serve", "--config", filepath.Join(dir, "shadowreg.yaml")}
	switch variantOf(key) {
	case "s3":
		m, err := l.get(ctx, "minio")
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&cfg, "spool-dir: %s\nstorage:\n  driver: s3\n  s3:\n    endpoint: %s\n    bucket: %s\n    prefix: shadowreg\n"+
			"    access-key: %s\n    secret-key: %s\n    insecure: true\n    redirect: %t\n",
			filepath.Join(dir, "spool"), m.Info["endpoint"], m.Info["bucket"], m.Info["access-key"], m.Info["secret-key"], l.opt.s3Redirect)
		backend = fmt.Sprintf("s3 on minio, prefix shadowreg, redirect %t", l.opt.s3Redirect)
		if err := os.MkdirAll(filepath.Join(dir, "spool"), 0o755); err != nil {
			return nil, err
		}
	case "swift":
		sw, err := l.get(ctx, "swift")
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&cfg, "spool-dir: %s\nstorage:\n  driver: swift\n  swift:\n    auth-url: %s\n    username: %s\n"+
			"    password: %s\n    container: %s\n    prefix: shadowreg\n",
			filepath.Join(dir, "spool"), sw.Info["auth-url"], sw.Info["user"], sw.Info["key"], sw.Info["container"])
		backend = "swift (tempauth) on the lab's Swift, prefix shadowreg, segments 32 MiB"
		if err := os.MkdirAll(filepath.Join(dir, "spool"), 0o755); err != nil {
			return nil, err
		}
	case "pt":
		up, err := l.get(ctx, "upstream")
		if err != nil {
			return nil, err
		}
		// The URL comes by flag, as an operator's quick start would give it; the
		// file adds the tag TTL (kept by --upstream, which only sets the URL).
		fmt.Fprintf(&cfg, "upstreams:\n  docker.io:\n    url: %s\n    tag-ttl: %s\n", up.URL, l.opt.tagTTL)
		argv = append(argv, "--upstream", "docker.io="+up.URL)
		backend = fmt.Sprintf("filesystem, upstream docker.io=%s, tag-ttl %s", up.URL, l.opt.tagTTL)
	case "bearer", "basic":
		a, err := authConfig()
		if err != nil {
			return nil, err
		}
		cfg.WriteString(a)
		backend = "filesystem, auth (bcrypt password, HS256 tokens)"
	}
	if err := os.WriteFile(argv[3], []byte(cfg.String()), 0o644); err != nil {
		return nil, err
	}
	argv = append(argv, strings.Fields(l.opt.shadowregArgs)...)
	desc := bin + " (" + versionOf(ctx, bin, "version") + "), " + backend
	if extra := strings.TrimSpace(l.opt.shadowregArgs); extra != "" {
		desc += ", " + extra
	}
	t, err := serveProc(ctx, l, colName(key), desc, port, argv, dir)
	if err != nil {
		return nil, err
	}
	if v := variantOf(key); v == "bearer" || v == "basic" {
		if err := authenticate(ctx, t, v); err != nil {
			t.stop()
			return nil, err
		}
	}
	switch {
	case l.opt.shadowregPprof != "":
		t.Pprof = strings.TrimSuffix(l.opt.shadowregPprof, "/")
	case debug != "":
		if !answers(ctx, t.Client, "http://"+debug+"/debug/pprof/") {
			logf("shadowreg answers no http://%s/debug/pprof/ (debug-listen): no profile of it", debug)
		} else {
			t.Pprof = "http://" + debug + "/debug/pprof"
		}
	}
	return t, nil
}

// startReference runs distribution v3, tuned the way its own sample config ships
// (in-memory blob descriptor cache) and with the access log off: a log line per
// request would handicap it in the manifest case. Storage is filesystem in
// dir/data, or its s3-aws driver on the lab's MinIO ("-s3" keys); "-pt" keys run
// it as a pull-through cache of the upstream (proxy.remoteurl).
func startReference(ctx context.Context, l *lab, key, dir string) (*Target, error) {
	rc := refConfig{
		storage:  fmt.Sprintf("  filesystem:\n    rootdirectory: %s\n", filepath.Join(dir, "data")),
		cache:    true,
		noAccess: true,
	}
	desc := "filesystem, blobdescriptor cache inmemory, access log off"
	switch variantOf(key) {
	case "s3":
		m, err := l.get(ctx, "minio")
		if err != nil {
			return nil, err
		}
		root := "/ref"
		if strings.HasSuffix(key, "-b") {
			root = "/ref-b"
		}
		rc.storage = fmt.Sprintf("  s3:\n    accesskey: %s\n    secretkey: %s\n    region: us-east-1\n"+
			"    regionendpoint: http://%s\n    bucket: %s\n    rootdirectory: %s\n    secure: false\n    forcepathstyle: true\n",
			m.Info["access-key"], m.Info["secret-key"], m.Info["endpoint"], m.Info["bucket"], root)
		// Its default is to answer blob GETs with a redirect to the object store;
		// shadowreg's is to stream them. --s3-redirect sets both the same way.
		rc.storage += fmt.Sprintf("  redirect:\n    disable: %t\n", !l.opt.s3Redirect)
		desc = fmt.Sprintf("s3-aws on minio, rootdirectory %s, redirect %t, blobdescriptor cache inmemory, access log off", root, l.opt.s3Redirect)
	case "pt":
		up, err := l.get(ctx, "upstream")
		if err != nil {
			return nil, err
		}
		rc.proxy = up.URL
		desc = "filesystem, proxy.remoteurl " + up.URL + ", blobdescriptor cache inmemory, access log off"
	}
	return runReference(ctx, l, key, dir, rc, desc)
}

// startUpstream is the registry pull-through cases fetch from: the reference
// registry on filesystem storage, with its access log on (cases count the
// requests that reach it), holding the bench image, pushed once.
func startUpstream(ctx context.Context, l *lab, key, dir string) (*Target, error) {
	rc := refConfig{storage: fmt.Sprintf("  filesystem:\n    rootdirectory: %s\n", filepath.Join(dir, "data")), cache: true}
	t, err := runReference(ctx, l, key, dir, rc, "filesystem, blobdescriptor cache inmemory, access log on (counts upstream requests)")
	if err != nil {
		return nil, err
	}
	t.Name = "upstream"
	if err := l.pushImage(ctx, t); err != nil {
		t.stop()
		return nil, fmt.Errorf("push image: %w", err)
	}
	if mbps := l.opt.upstreamMBps; mbps > 0 {
		// Every pull, direct or through a cache, goes through one paced link.
		url, stopLink, err := startLink(t.URL, mbps)
		if err != nil {
			t.stop()
			return nil, err
		}
		stopRegistry := t.stop
		t.URL, t.stop = url, func() { stopLink(); stopRegistry() }
		t.Desc += fmt.Sprintf(", behind a %.0f MB/s link", mbps)
	}
	return t, nil
}

func runReference(ctx context.Context, l *lab, key, dir string, rc refConfig, desc string) (*Target, error) {
	bin := l.opt.registryBin
	if err := needBinary(bin, "run tools/install.sh registry"); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	rc.addr = fmt.Sprintf("127.0.0.1:%d", port)
	if l.opt.profileDir != "" { // its debug listener serves net/http/pprof
		dport, err := freePort()
		if err != nil {
			return nil, err
		}
		rc.debug = fmt.Sprintf("127.0.0.1:%d", dport)
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(rc.render()), 0o644); err != nil {
		return nil, err
	}
	v := strings.Fields(versionOf(ctx, bin, "--version")) // "<argv0> <module> <version>"
	desc = bin + " (distribution " + v[len(v)-1] + "), " + desc
	t, err := serveProc(ctx, l, colName(key), desc, port, []string{bin, "serve", cfg}, dir)
	if err != nil {
		return nil, err
	}
	if rc.debug != "" {
		t.Pprof = "http://" + rc.debug + "/debug/pprof"
	}
	return t, nil
}

// refConfig is what varies in a distribution config between targets.
type refConfig struct {
	addr, debug string
	storage     string // the driver's YAML block, indented two spaces
	proxy       string // proxy.remoteurl, "" for none
	cache       bool   // blobdescriptor: inmemory
	noAccess    bool   // access log off
}

func (rc refConfig) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: %t\n", rc.noAccess)
	b.WriteString("storage:\n" + rc.storage)
	if rc.cache {
		b.WriteString("  cache:\n    blobdescriptor: inmemory\n")
	}
	b.WriteString("  delete:\n    enabled: true\n")
	// No upload purging: a background sweep must not run during a timed case.
	b.WriteString("  maintenance:\n    uploadpurging:\n      enabled: false\n")
	b.WriteString("http:\n  addr: " + rc.addr + "\n")
	if rc.debug != "" {
		b.WriteString("  debug:\n    addr: " + rc.debug + "\n")
	}
	if rc.proxy != "" {
		b.WriteString("proxy:\n  remoteurl: " + rc.proxy + "\n")
	}
	return b.String()
}

// startMinio runs tools/minio.sh start in dir (data, log and pid file stay there)
// and reads the MINIO_* lines it prints. MINIO_WATCH_PID stops it if the bench is
// killed outright and cannot run stop.
func startMinio(ctx context.Context, l *lab, key, dir string) (*Target, error) {
	script := filepath.Join(repoRoot(), "tools", "minio.sh")
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("%s: %w", script, err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Minute) // it builds MinIO when missing
	defer cancel()
	cmd := exec.CommandContext(sctx, "bash", script, "start", dir, "", "bench")
	cmd.Env = append(os.Environ(), "MINIO_WATCH_PID="+strconv.Itoa(os.Getpid()))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("minio.sh start: %w", err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	if env["MINIO_ENDPOINT"] == "" {
		return nil, fmt.Errorf("minio.sh start printed no MINIO_ENDPOINT:\n%s", out)
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(sctx, "bash", script, "stop", dir).CombinedOutput(); err != nil {
			logf("minio.sh stop %s: %v %s", dir, err, out)
		}
	}
	bin := filepath.Join(envOr("SHADOWREG_TOOLS", filepath.Join(repoRoot(), ".cache", "bin")), "minio")
	return &Target{
		Name: "minio", URL: "http://" + env["MINIO_ENDPOINT"],
		Desc:   bin + " (" + versionOf(ctx, bin, "--version") + "), data in " + filepath.Join(dir, "data") + ", bucket " + env["MINIO_BUCKET"],
		Client: newClient(4), Log: filepath.Join(dir, "minio.log"), stop: stop,
		Info: map[string]string{
			"endpoint": env["MINIO_ENDPOINT"], "bucket": env["MINIO_BUCKET"],
			"access-key": env["MINIO_ACCESS_KEY"], "secret-key": env["MINIO_SECRET_KEY"],
		},
	}, nil
}

// startSwift runs tools/swift.sh start in dir (rings, configs, data, logs
// and pid files stay there) and reads the SWIFT_* lines it prints.
// SWIFT_WATCH_PID stops it if the bench is killed outright.
func startSwift(ctx context.Context, l *lab, key, dir string) (*Target, error) {
	script := filepath.Join(repoRoot(), "tools", "swift.sh")
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(sctx, "bash", script, "start", dir, "bench")
	cmd.Env = append(os.Environ(), "SWIFT_WATCH_PID="+strconv.Itoa(os.Getpid()), "SWIFT_NO_INSTALL=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("swift.sh start (tools/install.sh swift installs Swift): %w", err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	if env["SWIFT_AUTH_URL"] == "" {
		return nil, fmt.Errorf("swift.sh start printed no SWIFT_AUTH_URL:\n%s", out)
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(sctx, "bash", script, "stop", dir).CombinedOutput(); err != nil {
			logf("swift.sh stop %s: %v %s", dir, err, out)
		}
	}
	return &Target{
		Name: "swift", URL: env["SWIFT_STORAGE_URL"],
		Desc:   "Debian's OpenStack Swift (one replica, tempauth), data in " + filepath.Join(dir, "srv"),
		Client: newClient(4), Log: filepath.Join(dir, "proxy.log"), stop: stop,
		Info: map[string]string{
			"auth-url": env["SWIFT_AUTH_URL"], "user": env["SWIFT_USER"], "key": env["SWIFT_KEY"],
			"container": env["SWIFT_CONTAINER"],
		},
	}, nil
}

// versionOf runs `bin arg` and returns its first line of output.
func versionOf(ctx context.Context, bin, arg string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, arg).Output()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil || line == "" {
		return "version unknown"
	}
	return line
}

// startLimit re-runs this binary as the machine-limit server (see limitserver.go),
// a separate process like the registries, so it pays the same process boundaries.
func startLimit(ctx context.Context, l *lab, key, dir string) (*Target, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := []string{self, "limit-server", "-listen", fmt.Sprintf("127.0.0.1:%d", port),
		"-blob", l.blob.Path, "-digest", l.blob.Digest, "-data", filepath.Join(dir, "data")}
	return serveProc(ctx, l, "limit", "net/http: ServeFile for pulls; SHA-256 + write + fsync for pushes", port, argv, dir)
}

// answers reports whether GET u is 200.
func answers(ctx context.Context, c *http.Client, u string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	drain(resp)
	return resp.StatusCode == http.StatusOK
}
