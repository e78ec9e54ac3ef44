package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const playbookTimeout = 2 * time.Minute

// pbFact is what playbooks/run-shadowreg.yaml writes to shadowreg_facts_file
// (and sets as the fact `shadowreg`).
type pbFact struct {
	Host             string   `json:"host"`
	Alias            string   `json:"alias"`
	Port             int      `json:"port"`
	URL              string   `json:"url"`
	Username         string   `json:"username"`
	Password         string   `json:"password"`
	Cert             string   `json:"cert"`
	CAPath           string   `json:"ca_path"`
	PidFile          string   `json:"pid_file"`
	LogFile          string   `json:"log_file"`
	Buildset         string   `json:"buildset"`
	BuildsetParents  []string `json:"buildset_parents"`
	BuildsetUsername string   `json:"buildset_username"`
	BuildsetPassword string   `json:"buildset_password"`
}

// TestPlaybooks runs playbooks/run-shadowreg.yaml and use-shadowreg.yaml with
// ansible-playbook on this machine (-c local), every path in a temp folder,
// the way a Zuul job would run them on a node: a TLS registry with auth, an
// upstream for docker.io (a second, plain registry standing in for Docker
// Hub) and buildset change-2 on top of change-1. Then it uses what they wrote,
// with real clients and nothing else:
//
//   - skopeo with the generated registries.conf, auth.json and CA pulls
//     docker.io/library/app:1 and gets the speculative image pushed into the
//     buildset (not upstream's app:1), base:1 from the parent buildset,
//     upstream-only:1 from the upstream, quay.io/org/tool:1 from the buildset;
//     with the write user's credentials (bound to no buildset) app:1 is still
//     the buildset's, so the mirror's path selects it;
//   - podman with CONTAINERS_REGISTRIES_CONF (short name too);
//   - a docker engine started with the generated daemon.json and the docker
//     client with the generated config.json: `docker pull app:1` reaches the
//     buildset through the buildset's credentials stored as docker.io's;
//   - that engine's containerd (ctr --hosts-dir) with the generated hosts.toml;
//   - the contents of daemon.json, registries.conf and hosts.toml, parsed,
//     with what was in them before kept;
//   - re-running both playbooks changes nothing and keeps the registry
//     process.
//
// The registry is stopped through its pid file at the end.
func TestPlaybooks(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Fatalf("ansible-playbook not found in PATH: install it with `tools/install.sh apt` (Debian's ansible package)")
	}
	if setupErr != nil {
		t.Fatalf("cannot run the playbooks: %v", setupErr)
	}
	if isReference() {
		t.Skip("the playbooks run shadowreg itself")
	}
	requireTool(t, "skopeo")
	requireTool(t, "podman")
	python := pbPython(t)
	bin, err := filepath.Abs(serverBin)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()

	// The real upstream: a plain registry with docker.io's app:1 (which the
	// buildset shadows) and an image only it has.
	upstream := startServer(t)
	sk := newSkopeo(t)
	up := newImage(t, formatOCI, 1, 8<<10, "linux/amd64", 7301)
	upOnly := newImage(t, formatOCI, 1, 8<<10, "linux/amd64", 7302)
	spec := newImage(t, formatOCI, 2, 16<<10, "linux/amd64", 7303)   // the speculative app:1
	parent := newImage(t, formatOCI, 1, 16<<10, "linux/amd64", 7304) // pushed into the parent buildset
	tool := newImage(t, formatOCI, 1, 16<<10, "linux/amd64", 7305)   // quay.io/org/tool:1
	src := filepath.Join(t.TempDir(), "src")
	writeLayout(t, src, map[string]any{"up": up, "uponly": upOnly, "spec": spec, "parent": parent, "tool": tool})
	sk.copyIn("oci:"+src+":up", upstream.Ref("docker.io/library/app:1"))
	sk.copyIn("oci:"+src+":uponly", upstream.Ref("docker.io/library/upstream-only:1"))

	base := t.TempDir()
	work := filepath.Join(base, "work")
	node := filepath.Join(base, "node")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	reg := fmt.Sprintf("localhost:%d", port)
	paths := map[string]string{
		"shadowreg_hosts_file":           filepath.Join(node, "etc/hosts"),
		"shadowreg_registries_conf":      filepath.Join(node, "etc/containers/registries.conf"),
		"shadowreg_docker_daemon_json":   filepath.Join(node, "etc/docker/daemon.json"),
		"shadowreg_docker_config_json":   filepath.Join(node, "home/.docker/config.json"),
		"shadowreg_auth_json":            filepath.Join(node, "run/containers/0/auth.json"),
		"shadowreg_docker_certs_dir":     filepath.Join(node, "etc/docker/certs.d"),
		"shadowreg_containers_certs_dir": filepath.Join(node, "etc/containers/certs.d"),
		"shadowreg_containerd_certs_dir": filepath.Join(node, "etc/containerd/certs.d"),
	}

	// What the node had before: use-shadowreg must keep it. daemon.json also
	// carries what a private docker engine needs here (the registry is
	// "insecure" for docker only because dockerd reads CAs from the real
	// /etc/docker/certs.d, which a test must not touch).
	dk, err := os.MkdirTemp("", "e2epbdk") // unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dk) })
	pbWrite(t, paths["shadowreg_registries_conf"], `unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"

[[registry]]
prefix = "example.com"
location = "example.com"

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.example.org/docker"
`)
	daemonBefore := map[string]any{
		"registry-mirrors":    []any{"https://other-mirror.example/"},
		"insecure-registries": []any{reg},
		"storage-driver":      "vfs",
		"iptables":            false,
		"ip-forward":          false,
		"ip-masq":             false,
		"bridge":              "none",
		"data-root":           filepath.Join(dk, "root"),
		"exec-root":           filepath.Join(dk, "exec"),
		"pidfile":             filepath.Join(dk, "docker.pid"),
		"hosts":               []any{"unix://" + filepath.Join(dk, "docker.sock")},
	}
	b, _ := json.Marshal(daemonBefore)
	pbWrite(t, paths["shadowreg_docker_daemon_json"], string(b))
	pbWrite(t, paths["shadowreg_docker_config_json"], `{"auths": {"ghcr.io": {"auth": "Z2g6dG9rZW4="}}}`)

	// run-shadowreg.yaml.
	runVars := map[string]any{
		"shadowreg_bin":              bin,
		"shadowreg_work_dir":         work,
		"shadowreg_listen_address":   "127.0.0.1",
		"shadowreg_port":             port,
		"shadowreg_ip":               "127.0.0.1",
		"shadowreg_alias":            "localhost",
		"shadowreg_anonymous":        "none",
		"shadowreg_upstreams":        map[string]any{"docker.io": map[string]any{"url": upstream.URL}},
		"shadowreg_buildset":         "change-2",
		"shadowreg_buildset_parents": []string{"change-1"},
		"shadowreg_buildset_ttl":     "2h",
	}
	pidFile := filepath.Join(work, "shadowreg.pid")
	t.Cleanup(func() { pbStopRegistry(t, pidFile, filepath.Join(work, "shadowreg.log")) })
	runVarsFile := pbVarsFile(t, base, "run-vars.json", runVars)
	useVarsFile := pbVarsFile(t, base, "use-vars.json", map[string]any{"shadowreg_containerd_auth": true}, paths)
	pbPlaybook(t, base, "run-shadowreg.yaml", runVarsFile)
	pid1 := pbRead(t, pidFile)

	var facts struct{ Shadowreg pbFact }
	if err := json.Unmarshal([]byte(pbRead(t, filepath.Join(work, "shadowreg.json"))), &facts); err != nil {
		t.Fatalf("%s/shadowreg.json: %v", work, err)
	}
	f := facts.Shadowreg
	if f.Host != "127.0.0.1" || f.Alias != "localhost" || f.Port != port || f.Username != "zuul" || len(f.Password) < 32 ||
		f.Buildset != "change-2" || f.BuildsetUsername != "buildset-change-2" || f.BuildsetPassword == "" ||
		!strings.Contains(f.Cert, "BEGIN CERTIFICATE") || f.PidFile != pidFile {
		t.Fatalf("the shadowreg fact is not what was asked for: %+v", f)
	}
	if cfg := pbRead(t, filepath.Join(work, "config.yaml")); strings.Contains(cfg, f.Password) ||
		!regexp.MustCompile(`password: \$2[aby]\$10\$[./A-Za-z0-9]{53}\n`).MatchString(cfg) {
		t.Errorf("config.yaml should hold the bcrypt hash of the write user's password, not the password:\n%s", cfg)
	}

	pbPlaybook(t, base, "use-shadowreg.yaml", "@"+filepath.Join(work, "shadowreg.json"), useVarsFile)

	// Both again: nothing changes, the registry keeps running.
	if out := pbPlaybook(t, base, "run-shadowreg.yaml", runVarsFile); !pbUnchanged(out) {
		t.Errorf("run-shadowreg.yaml run twice changed something:\n%s", clip(out))
	}
	if pid := pbRead(t, pidFile); pid != pid1 {
		t.Errorf("run-shadowreg.yaml run twice restarted the registry (pid %s, then %s)", pid1, pid)
	}
	if out := pbPlaybook(t, base, "use-shadowreg.yaml", "@"+filepath.Join(work, "shadowreg.json"), useVarsFile); !pbUnchanged(out) {
		t.Errorf("use-shadowreg.yaml run twice changed something:\n%s", clip(out))
	}

	// The files, as written.
	caDirContainers := filepath.Join(paths["shadowreg_containers_certs_dir"], reg)
	caDirDocker := filepath.Join(paths["shadowreg_docker_certs_dir"], reg)
	caContainerd := filepath.Join(paths["shadowreg_containerd_certs_dir"], reg, "ca.crt")
	for _, p := range []string{filepath.Join(caDirContainers, "ca.crt"), filepath.Join(caDirDocker, "ca.crt"), caContainerd} {
		if got := pbRead(t, p); got != f.Cert {
			t.Errorf("%s is not the registry's CA", p)
		}
	}
	if hosts := pbRead(t, paths["shadowreg_hosts_file"]); !strings.Contains(hosts, "127.0.0.1 localhost\n") {
		t.Errorf("hosts file: want the alias line \"127.0.0.1 localhost\":\n%s", hosts)
	}
	bsBasic := base64.StdEncoding.EncodeToString([]byte(f.BuildsetUsername + ":" + f.BuildsetPassword))
	pbCheckDaemonJSON(t, paths["shadowreg_docker_daemon_json"], reg, daemonBefore)
	pbCheckAuthFile(t, paths["shadowreg_docker_config_json"], map[string]string{
		"ghcr.io": "Z2g6dG9rZW4=", reg: bsBasic, "https://index.docker.io/v1/": bsBasic,
	})
	pbCheckAuthFile(t, paths["shadowreg_auth_json"], map[string]string{reg: bsBasic})
	pbCheckRegistriesConf(t, python, paths["shadowreg_registries_conf"], reg)
	for _, ns := range []string{"docker.io", "quay.io", "gcr.io", "registry.k8s.io"} {
		server := "https://" + ns
		if ns == "docker.io" {
			server = "https://registry-1.docker.io"
		}
		want := map[string]any{
			"server": server,
			"host": map[string]any{
				"https://" + reg + "/v2/buildsets/change-2/" + ns: map[string]any{
					"capabilities":  []any{"pull", "resolve"},
					"override_path": true,
					"ca":            caContainerd,
					"header":        map[string]any{"authorization": "Basic " + bsBasic},
				},
			},
		}
		p := filepath.Join(paths["shadowreg_containerd_certs_dir"], ns, "hosts.toml")
		if got := pbTOML(t, python, p); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", p, got, want)
		}
	}

	// Speculative images: into the buildset with its credentials, into the
	// parent with the write user's.
	skPush := func(name, creds, ref string) {
		t.Helper()
		sk.run("copy", "--dest-cert-dir", caDirContainers, "--dest-creds", creds, "oci:"+src+":"+name, "docker://"+reg+"/"+ref)
	}
	skPush("spec", f.BuildsetUsername+":"+f.BuildsetPassword, "buildsets/change-2/docker.io/library/app:1")
	skPush("tool", f.BuildsetUsername+":"+f.BuildsetPassword, "buildsets/change-2/quay.io/org/tool:1")
	skPush("parent", f.Username+":"+f.Password, "buildsets/change-1/docker.io/library/base:1")

	cases := []struct {
		ref, from string
		img       any
	}{
		{"docker.io/library/app:1", "the buildset (over upstream's app:1)", spec},
		{"docker.io/library/base:1", "the parent buildset", parent},
		{"docker.io/library/upstream-only:1", "the upstream", upOnly},
		{"quay.io/org/tool:1", "the buildset", tool},
	}

	// skopeo, with the generated registries.conf, auth.json and CA.
	policy := filepath.Join(base, "policy.json")
	pbWrite(t, policy, `{"default":[{"type":"insecureAcceptAnything"}]}`)
	skEnv := append(clientEnv(t), "TMPDIR="+t.TempDir())
	for i, tc := range cases {
		dg := manifestDigest(t, tc.img.(interface{ RawManifest() ([]byte, error) }))
		out := filepath.Join(base, fmt.Sprintf("pulled-%d", i))
		runTool(t, skopeoTimeout, skEnv, "skopeo", "--registries-conf", paths["shadowreg_registries_conf"], "--policy", policy,
			"copy", "--src-cert-dir", caDirContainers, "--src-authfile", paths["shadowreg_auth_json"],
			"docker://"+tc.ref, "oci:"+out+":pulled")
		verifyLayoutHas(t, out, "pulled", dg, collectContent(t, tc.img))
	}
	// The buildset's credentials alone would select it too; with the write
	// user's, which are bound to no buildset, only the mirror's path does:
	// app:1 is still the speculative image, not the upstream's.
	zuulAuth := filepath.Join(base, "zuul-auth.json")
	pbWrite(t, zuulAuth, fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, reg,
		base64.StdEncoding.EncodeToString([]byte(f.Username+":"+f.Password))))
	raw := runTool(t, skopeoTimeout, skEnv, "skopeo", "--registries-conf", paths["shadowreg_registries_conf"],
		"inspect", "--raw", "--cert-dir", caDirContainers, "--authfile", zuulAuth, "docker://docker.io/library/app:1")
	if got := sha256Digest([]byte(raw)); got != manifestDigest(t, spec) {
		t.Errorf("docker.io/library/app:1 through registries.conf as user %s: digest %s, want the buildset's %s (upstream's: %s)",
			f.Username, got, manifestDigest(t, spec), manifestDigest(t, up))
	}
	// Without the credentials the registry refuses (anonymous: none), so the
	// pulls above went through auth.json.
	if r := tryTool(t, skopeoTimeout, skEnv, "skopeo", "inspect", "--raw", "--cert-dir", caDirContainers, "--no-creds",
		"docker://"+reg+"/buildsets/change-2/docker.io/library/app:1"); r.Err == nil ||
		!strings.Contains(strings.ToLower(r.Stderr), "unauthorized") && !strings.Contains(r.Stderr, "authentication required") {
		t.Errorf("skopeo inspect without credentials: %v, want a refusal (anonymous: none); stderr:\n%s", r.Err, r.Stderr)
	}

	// podman, with CONTAINERS_REGISTRIES_CONF (it keeps the short-name
	// settings the file had).
	short, err := os.MkdirTemp("", "e2epbpod") // podman wants a short run root
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	podEnv := append(clientEnv(t), "CONTAINERS_REGISTRIES_CONF="+paths["shadowreg_registries_conf"],
		"REGISTRY_AUTH_FILE="+paths["shadowreg_auth_json"])
	podman := func(args ...string) string {
		t.Helper()
		global := []string{"--root", filepath.Join(base, "podman-root"), "--runroot", filepath.Join(short, "run"),
			"--storage-driver", "vfs", "--cgroup-manager=cgroupfs", "--events-backend=file", "--tmpdir", filepath.Join(short, "tmp")}
		return strings.TrimSpace(runTool(t, clientTimeout, podEnv, "podman", append(global, args...)...))
	}
	for _, ref := range []string{"app:1", "docker.io/library/base:1", "quay.io/org/tool:1"} {
		want := spec
		switch ref {
		case "docker.io/library/base:1":
			want = parent
		case "quay.io/org/tool:1":
			want = tool
		}
		cfg, _ := want.ConfigName()
		if id := podman("pull", "--quiet", "--cert-dir", caDirContainers, "--arch", "amd64", "--os", "linux", ref); id != cfg.Hex {
			t.Errorf("podman pull %s: image ID %s, want %s", ref, id, cfg.Hex)
		}
		if dg := podman("image", "inspect", "--format", "{{.Digest}}", ref); dg != manifestDigest(t, want) {
			t.Errorf("podman image inspect %s: digest %s, want %s", ref, dg, manifestDigest(t, want))
		}
	}

	// docker, with the generated daemon.json and config.json: docker sends
	// the docker.io credentials (the buildset's) to its mirror, which is how
	// docker reaches a buildset.
	dockerEnv := pbStartDockerd(t, paths["shadowreg_docker_daemon_json"], filepath.Join(dk, "docker.sock"))
	dockerEnv = append(dockerEnv, "DOCKER_CONFIG="+filepath.Dir(paths["shadowreg_docker_config_json"]))
	docker := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(runTool(t, clientTimeout, dockerEnv, "docker", args...))
	}
	for _, tc := range []struct {
		ref  string
		want any
	}{{"app:1", spec}, {"base:1", parent}, {"upstream-only:1", upOnly}} {
		img := tc.want.(interface{ RawManifest() ([]byte, error) })
		docker("pull", tc.ref)
		if rd := docker("image", "inspect", "--format", "{{json .RepoDigests}}", tc.ref); !strings.Contains(rd, manifestDigest(t, img)) {
			t.Errorf("docker pull %s: RepoDigests %s, want %s", tc.ref, rd, manifestDigest(t, img))
		}
	}

	// containerd (the engine's own), with the generated hosts.toml: TLS
	// verified with the installed CA, the buildset by path.
	sock := filepath.Join(dk, "exec", "containerd", "containerd.sock")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerd's containerd socket %s did not appear", sock)
		}
	}
	ctr := func(args ...string) string {
		t.Helper()
		return runTool(t, clientTimeout, nil, "ctr", append([]string{"--address", sock, "--namespace", "e2epb"}, args...)...)
	}
	for _, tc := range cases {
		ctr("images", "pull", "--hosts-dir", paths["shadowreg_containerd_certs_dir"], "--platform", "linux/amd64",
			"--snapshotter", "native", tc.ref)
		got := ""
		for _, line := range strings.Split(ctr("images", "ls"), "\n") {
			if fields := strings.Fields(line); len(fields) >= 3 && fields[0] == tc.ref {
				got = fields[2]
			}
		}
		if want := manifestDigest(t, tc.img.(interface{ RawManifest() ([]byte, error) })); got != want {
			t.Errorf("ctr images pull %s: digest %q, want %s from %s", tc.ref, got, want, tc.from)
		}
	}
	t.Logf("TestPlaybooks took %.1fs", time.Since(start).Seconds())
}

// pbPython returns a Python 3.11+ (tomllib), the one ansible runs on first.
func pbPython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			if exec.Command(path, "-c", "import tomllib").Run() == nil {
				return path
			}
		}
	}
	t.Fatalf("no python3 with tomllib (3.11+) to parse TOML: install Debian's python3 (`tools/install.sh apt` brings it with ansible)")
	return ""
}

func pbWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func pbRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pbVarsFile writes extra variables for ansible-playbook -e @FILE.
func pbVarsFile(t *testing.T, dir, name string, vars ...any) string {
	t.Helper()
	all := map[string]any{}
	for _, v := range vars {
		switch m := v.(type) {
		case map[string]any:
			for k, x := range m {
				all[k] = x
			}
		case map[string]string:
			for k, x := range m {
				all[k] = x
			}
		}
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	pbWrite(t, p, string(b))
	return "@" + p
}

// pbPlaybook runs one of playbooks/ on this machine and returns its output.
func pbPlaybook(t *testing.T, dir, playbook string, extraVars ...string) string {
	t.Helper()
	tmp := filepath.Join(dir, "ansible-tmp")
	env := append(clientEnv(t),
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0", "ANSIBLE_RETRY_FILES_ENABLED=0",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(tmp, "local"), "ANSIBLE_REMOTE_TEMP="+filepath.Join(tmp, "remote"),
		"ANSIBLE_PYTHON_INTERPRETER=auto_silent", "ANSIBLE_DEPRECATION_WARNINGS=0")
	args := []string{"-i", "localhost,", "-c", "local", filepath.Join(repoRoot, "playbooks", playbook)}
	for _, e := range extraVars {
		args = append(args, "-e", e)
	}
	r := tryToolIn(t, dir, playbookTimeout, env, "ansible-playbook", args...)
	if r.Err != nil {
		t.Fatalf("ansible-playbook %s: %v\n%s\n%s", playbook, r.Err, clip(r.Stdout), clip(r.Stderr))
	}
	return r.Stdout
}

var pbRecap = regexp.MustCompile(`(?m)^localhost\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0`)

// pbUnchanged reports whether a playbook's recap says nothing changed.
func pbUnchanged(out string) bool {
	m := pbRecap.FindStringSubmatch(out)
	return m != nil && m[1] == "0"
}

// pbTOML parses a TOML file with Python's tomllib.
func pbTOML(t *testing.T, python, path string) map[string]any {
	t.Helper()
	out, err := exec.Command(python, "-c",
		"import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], 'rb'))))", path).CombinedOutput()
	if err != nil {
		t.Fatalf("%s is not valid TOML: %v\n%s\n%s", path, err, out, pbRead(t, path))
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func pbCheckDaemonJSON(t *testing.T, path, reg string, before map[string]any) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal([]byte(pbRead(t, path)), &got); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	want := map[string]any{}
	for k, v := range before {
		want[k] = v
	}
	want["registry-mirrors"] = []any{"https://" + reg + "/", "https://other-mirror.example/"}
	// Through JSON, so that the types compare.
	b, _ := json.Marshal(want)
	want = nil
	_ = json.Unmarshal(b, &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", path, got, want)
	}
}

func pbCheckAuthFile(t *testing.T, path string, want map[string]string) {
	t.Helper()
	var got struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal([]byte(pbRead(t, path)), &got); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(got.Auths) != len(want) {
		t.Errorf("%s: %d auths, want %d (%v)", path, len(got.Auths), len(want), want)
	}
	for k, v := range want {
		if got.Auths[k].Auth != v {
			t.Errorf("%s: auths[%q].auth = %q, want %q", path, k, got.Auths[k].Auth, v)
		}
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		t.Errorf("%s: mode %v, want no access for group and others", path, st.Mode().Perm())
	}
}

func pbCheckRegistriesConf(t *testing.T, python, path, reg string) {
	t.Helper()
	conf := pbTOML(t, python, path)
	if fmt.Sprint(conf["unqualified-search-registries"]) != "[docker.io]" || conf["short-name-mode"] != "permissive" {
		t.Errorf("%s: the settings it had are gone: %v", path, conf)
	}
	regs, _ := conf["registry"].([]any)
	byPrefix := map[string]map[string]any{}
	for _, r := range regs {
		m, _ := r.(map[string]any)
		byPrefix[fmt.Sprint(m["prefix"])] = m
	}
	if byPrefix["example.com"] == nil {
		t.Errorf("%s: the example.com entry it had is gone", path)
	}
	for _, ns := range []string{"docker.io", "quay.io", "gcr.io", "registry.k8s.io"} {
		want := []string{reg + "/buildsets/change-2/" + ns, ns}
		if ns == "docker.io" {
			want = append(want, "mirror.example.org/docker")
		}
		var got []string
		if e := byPrefix[ns]; e != nil {
			if e["location"] != ns {
				t.Errorf("%s: %s's location %v, want %s", path, ns, e["location"], ns)
			}
			mirrors, _ := e["mirror"].([]any)
			for _, m := range mirrors {
				got = append(got, fmt.Sprint(m.(map[string]any)["location"]))
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %s's mirrors %q, want %q", path, ns, got, want)
		}
	}
}

// pbStartDockerd starts a docker engine with a daemon.json (which keeps all
// of its state under a temp folder) and returns the docker client's
// environment. It is stopped at cleanup.
func pbStartDockerd(t *testing.T, daemonJSON, sock string) []string {
	t.Helper()
	requireTool(t, "ctr")
	return runDockerd(t, daemonJSON, sock)
}

// pbStopRegistry stops the registry run-shadowreg.yaml started, through its
// pid file: SIGTERM, then SIGKILL after 15s (an error). Its log is printed
// when the test failed or the log shows a crash.
func pbStopRegistry(t *testing.T, pidFile, logFile string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return // never started
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Errorf("%s: bad pid %q", pidFile, b)
		return
	}
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !bytes.Contains(cmdline, []byte("serve")) {
		t.Errorf("pid %d from %s is not a running shadowreg (%q)", pid, pidFile, cmdline)
	} else {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		for pbAlive(pid) {
			if ctx.Err() != nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("shadowreg (pid %d) did not exit within %v of SIGTERM: killed", pid, stopTimeout)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	logs, _ := os.ReadFile(logFile)
	for _, bad := range []string{"panic:", "fatal error:", "WARNING: DATA RACE"} {
		if bytes.Contains(logs, []byte(bad)) {
			t.Errorf("%s contains %q", logFile, bad)
		}
	}
	if t.Failed() {
		t.Logf("%s:\n%s", logFile, clip(string(logs)))
	}
}

// pbAlive reports whether a process exists and is not a zombie (its parent,
// not us, reaps it).
func pbAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestPlaybookRefusesABadHash runs run-shadowreg.yaml with a "shadowreg"
// whose hash-password prints what Ansible's password_hash('bcrypt') prints
// without passlib ("*0"): the play must stop there, saying why, before it
// writes a configuration or starts anything. And no playbook may hash with
// Ansible's password_hash at all: it depends on an optional Python library.
func TestPlaybookRefusesABadHash(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Fatalf("ansible-playbook not found in PATH: install it with `tools/install.sh apt` (Debian's ansible package)")
	}
	files, err := filepath.Glob(filepath.Join(repoRoot, "playbooks", "*", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	top, _ := filepath.Glob(filepath.Join(repoRoot, "playbooks", "*.y*ml"))
	if files = append(files, top...); len(top) == 0 {
		t.Fatal("no playbooks found")
	}
	filter := regexp.MustCompile(`\|\s*password_hash\b`)
	for _, f := range files {
		if filter.MatchString(pbRead(t, f)) {
			t.Errorf("%s uses Ansible's password_hash, which needs passlib (and prints *0 without it): use `shadowreg hash-password`", f)
		}
	}

	base := t.TempDir()
	work := filepath.Join(base, "work")
	fake := filepath.Join(base, "shadowreg")
	pbWrite(t, fake, "#!/bin/sh\n# a shadowreg whose hash-password went wrong\ncat >/dev/null; echo '*0'\n")
	if err := os.Chmod(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	vars := pbVarsFile(t, base, "vars.json", map[string]any{
		"shadowreg_bin": fake, "shadowreg_work_dir": work, "shadowreg_listen_address": "127.0.0.1",
		"shadowreg_port": 1, "shadowreg_ip": "127.0.0.1", "shadowreg_alias": "localhost",
	})
	tmp := filepath.Join(base, "ansible-tmp")
	env := append(clientEnv(t), "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(tmp, "local"), "ANSIBLE_REMOTE_TEMP="+filepath.Join(tmp, "remote"),
		"ANSIBLE_PYTHON_INTERPRETER=auto_silent", "ANSIBLE_DEPRECATION_WARNINGS=0")
	r := tryToolIn(t, base, playbookTimeout, env, "ansible-playbook", "-i", "localhost,", "-c", "local",
		filepath.Join(repoRoot, "playbooks", "run-shadowreg.yaml"), "-e", vars)
	if r.Err == nil {
		t.Fatalf("run-shadowreg.yaml succeeded with a hash of *0:\n%s", clip(r.Stdout))
	}
	if !strings.Contains(r.Stdout, "does not hold a bcrypt hash (it starts") || !strings.Contains(r.Stdout, `*0`) {
		t.Errorf("the play failed without saying the hash is not bcrypt:\n%s\n%s", clip(r.Stdout), clip(r.Stderr))
	}
	if _, err := os.Stat(filepath.Join(work, "config.yaml")); !os.IsNotExist(err) {
		t.Errorf("a configuration was written although the hash is bad (stat: %v)", err)
	}
}
