package swift

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// The tests here run against a real Keystone (Debian's python3-keystone,
// tools/swift.sh keystone) and a second proxy of the test Swift that
// authenticates through it with authtoken and keystoneauth. A Keystone that
// cannot start fails them, as a missing Swift fails the package.

// realTokenLife is the tokens' lifetime in the test Keystone, in seconds:
// short, so that TestRealKeystoneTokenExpiry waits little. The shared driver
// suite does not run here yet: on this proxy its Concurrent tests fail now and
// then (concurrent PUTs of one path, released together by authtoken, answer
// 202; concurrent writers whose token expired got a 401 on the retry after
// the renewal), which needs a look at the driver first.
const realTokenLife = 10

var (
	ksOnce sync.Once
	ksEnv  map[string]string
	ksErr  error
)

// realKeystone starts the Keystone once per test binary; it stops with the
// Swift (tools/swift.sh stop in TestMain).
func realKeystone(t *testing.T) map[string]string {
	t.Helper()
	ksOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			ksErr = err
			return
		}
		cmd := exec.Command(filepath.Join(root, "tools", "swift.sh"), "keystone", swiftDir, swiftEnv["SWIFT_CONTAINER"])
		cmd.Env = append(os.Environ(), fmt.Sprintf("KEYSTONE_TOKEN_EXPIRATION=%d", realTokenLife),
			fmt.Sprintf("SWIFT_WATCH_PID=%d", os.Getpid()))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			ksErr = fmt.Errorf("tools/swift.sh keystone (tools/install.sh keystone installs Keystone): %v", err)
			return
		}
		ksEnv = parseEnv(out)
		for _, k := range []string{"KEYSTONE_AUTH_URL", "KEYSTONE_APP_CRED_ID", "KEYSTONE_STORAGE_URL"} {
			if ksEnv[k] == "" {
				ksErr = fmt.Errorf("tools/swift.sh keystone printed no %s:\n%s", k, out)
				return
			}
		}
	})
	if ksErr != nil {
		t.Fatal(ksErr)
	}
	return ksEnv
}

// realPasswordConfig: password auth as the user and project that
// keystone_setup.py made, each in a domain of its own.
func realPasswordConfig(env map[string]string, prefix string) Config {
	return Config{
		AuthURL: env["KEYSTONE_AUTH_URL"], Container: env["KEYSTONE_CONTAINER"], Prefix: prefix,
		Username: env["KEYSTONE_USER"], Password: env["KEYSTONE_PASSWORD"], UserDomainName: env["KEYSTONE_USER_DOMAIN"],
		ProjectName: env["KEYSTONE_PROJECT"], ProjectDomainName: env["KEYSTONE_PROJECT_DOMAIN"],
		Region: env["KEYSTONE_REGION"], Redirect: true, SegmentSize: 2 * mib,
	}
}

func realAppCredConfig(env map[string]string, prefix string) Config {
	return Config{
		AuthURL: env["KEYSTONE_AUTH_URL"], Container: env["KEYSTONE_CONTAINER"], Prefix: prefix,
		ApplicationCredentialID: env["KEYSTONE_APP_CRED_ID"], ApplicationCredentialSecret: env["KEYSTONE_APP_CRED_SECRET"],
		Region: env["KEYSTONE_REGION"], Redirect: true, SegmentSize: 2 * mib,
	}
}

// tokenInfo is what Keystone says of a token (GET /v3/auth/tokens, the
// token validating itself).
type tokenInfo struct {
	Methods   []string  `json:"methods"`
	ExpiresAt time.Time `json:"expires_at"`
	User      struct {
		Name   string `json:"name"`
		Domain struct {
			Name string `json:"name"`
		} `json:"domain"`
	} `json:"user"`
	Project struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Domain struct {
			Name string `json:"name"`
		} `json:"domain"`
	} `json:"project"`
	ApplicationCredential struct {
		ID string `json:"id"`
	} `json:"application_credential"`
}

func validateToken(t *testing.T, env map[string]string, token string) tokenInfo {
	t.Helper()
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodGet, env["KEYSTONE_AUTH_URL"]+"/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("X-Subject-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Token tokenInfo `json:"token"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Keystone on the driver's token: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Token
}

// swiftStatus is the status of HEAD on the container with token, straight
// to the Keystone-enabled proxy.
func swiftStatus(t *testing.T, env map[string]string, token string) int {
	t.Helper()
	u := env["KEYSTONE_STORAGE_URL"] + "/" + env["KEYSTONE_CONTAINER"]
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodHead, u, nil)
	req.Header.Set("X-Auth-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// roundTrip writes, reads, lists and deletes through d.
func roundTrip(t *testing.T, d *Driver) {
	t.Helper()
	ctx := testCtx(t)
	want := randomBytes(5*mib, 21) // more than two segments: a static large object
	finish(t, writeAt(t, d, "blobs/big", 0, want, mib), true)
	checkContent(t, d, "blobs/big", want)
	if err := d.PutContent(ctx, "blobs/small", []byte("small")); err != nil {
		t.Fatal(err)
	}
	got, err := d.List(ctx, "blobs")
	if err != nil || strings.Join(got, ",") != "blobs/big,blobs/small" {
		t.Fatalf("List(blobs) = %v, %v", got, err)
	}
	u, err := d.URLFor(ctx, "blobs/small", time.Minute)
	if err != nil {
		t.Fatalf("URLFor: %v", err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != 5 {
		t.Fatalf("GET TempURL through the Keystone proxy: %s, %d bytes", resp.Status, resp.ContentLength)
	}
	for _, p := range []string{"blobs/big", "blobs/small"} {
		if err := d.Delete(ctx, p); err != nil {
			t.Fatalf("Delete(%s): %v", p, err)
		}
	}
	if _, err := d.Stat(ctx, "blobs/big"); err == nil {
		t.Fatal("Stat after Delete: no error")
	}
}

// TestRealKeystone: password and application-credential auth, the OS_*
// environment, and the catalog's region and interface, against Keystone.
func TestRealKeystone(t *testing.T) {
	env := realKeystone(t)
	t.Run("password", func(t *testing.T) {
		d := openDriver(t, realPasswordConfig(env, uniquePrefix(t)))
		tok := validateToken(t, env, d.sc.ProviderClient.Token())
		if strings.Join(tok.Methods, ",") != "password" || tok.User.Domain.Name != env["KEYSTONE_USER_DOMAIN"] ||
			tok.Project.Name != env["KEYSTONE_PROJECT"] || tok.Project.Domain.Name != env["KEYSTONE_PROJECT_DOMAIN"] {
			t.Errorf("token: %+v, want a password token of the user and project in their domains", tok)
		}
		if want := env["KEYSTONE_STORAGE_URL"] + "/"; d.sc.Endpoint != want {
			t.Errorf("object-store endpoint %q, want the catalog's RegionOne public %q", d.sc.Endpoint, want)
		}
		roundTrip(t, d)
	})
	t.Run("application-credential", func(t *testing.T) {
		d := openDriver(t, realAppCredConfig(env, uniquePrefix(t)))
		tok := validateToken(t, env, d.sc.ProviderClient.Token())
		if strings.Join(tok.Methods, ",") != "application_credential" ||
			tok.ApplicationCredential.ID != env["KEYSTONE_APP_CRED_ID"] || tok.Project.ID != env["KEYSTONE_PROJECT_ID"] {
			t.Errorf("token: %+v, want an application-credential token on the credential's project", tok)
		}
		roundTrip(t, d)
	})
	t.Run("application-credential-by-name", func(t *testing.T) {
		c := realAppCredConfig(env, uniquePrefix(t))
		c.ApplicationCredentialID, c.ApplicationCredentialName = "", env["KEYSTONE_APP_CRED_NAME"]
		c.Username, c.UserDomainName = env["KEYSTONE_USER"], env["KEYSTONE_USER_DOMAIN"]
		d := openDriver(t, c)
		if err := d.PutContent(testCtx(t), "a", []byte("by name")); err != nil {
			t.Fatal(err)
		}
		checkContent(t, d, "a", []byte("by name"))
		purge(t, d)
	})
	t.Run("from-env", func(t *testing.T) {
		t.Setenv("OS_AUTH_URL", env["KEYSTONE_AUTH_URL"])
		t.Setenv("OS_AUTH_TYPE", "v3applicationcredential")
		t.Setenv("OS_APPLICATION_CREDENTIAL_ID", env["KEYSTONE_APP_CRED_ID"])
		t.Setenv("OS_APPLICATION_CREDENTIAL_SECRET", env["KEYSTONE_APP_CRED_SECRET"])
		t.Setenv("OS_REGION_NAME", env["KEYSTONE_REGION"])
		t.Setenv("OS_INTERFACE", "internalURL")
		d := openDriver(t, Config{FromEnv: true, Container: env["KEYSTONE_CONTAINER"], Prefix: uniquePrefix(t)})
		if err := d.PutContent(testCtx(t), "a", []byte("from the environment")); err != nil {
			t.Fatal(err)
		}
		checkContent(t, d, "a", []byte("from the environment"))
		purge(t, d)
	})
	t.Run("catalog", func(t *testing.T) {
		// Region RegionOne's admin endpoint and all of RegionTwo's are dead
		// ports: New reaches the container only through the endpoint picked.
		for _, bad := range []struct{ region, iface string }{{"RegionOne", "admin"}, {"RegionTwo", "public"},
			{"RegionTwo", "internal"}, {"RegionThree", "public"}} {
			c := realPasswordConfig(env, "x")
			c.Region, c.Interface = bad.region, bad.iface
			if _, err := New(testCtx(t), c); err == nil {
				t.Errorf("New with region %s, interface %s: no error", bad.region, bad.iface)
			}
		}
		c := realPasswordConfig(env, "x")
		c.Interface = "internal"
		openDriver(t, c)
	})
	t.Run("wrong-credentials", func(t *testing.T) {
		c := realPasswordConfig(env, "x")
		c.UserDomainName = "" // the user is not in Default
		if _, err := New(testCtx(t), c); err == nil {
			t.Error("New with the user looked up in the Default domain: no error")
		}
		c = realAppCredConfig(env, "x")
		c.ApplicationCredentialSecret = "wrong"
		if _, err := New(testCtx(t), c); err == nil {
			t.Error("New with a wrong application credential secret: no error")
		}
	})
}

// TestRealKeystoneTokenExpiry: Keystone's tokens expire while a driver holds
// one, in the middle of a chunked upload; Swift then refuses the old token,
// and the driver renews (password and application credential alike) and
// finishes the upload intact.
func TestRealKeystoneTokenExpiry(t *testing.T) {
	env := realKeystone(t)
	type run struct {
		name  string
		d     *Driver
		token string
		w     driver.FileWriter
		first []byte
	}
	var runs []*run
	var latest time.Time
	for i, c := range []Config{realPasswordConfig(env, uniquePrefix(t)), realAppCredConfig(env, uniquePrefix(t))} {
		r := &run{name: []string{"password", "application-credential"}[i], d: openDriver(t, c)}
		t.Cleanup(func() { purge(t, r.d) })
		r.token = r.d.sc.ProviderClient.Token()
		tok := validateToken(t, env, r.token)
		if life := time.Until(tok.ExpiresAt); life > realTokenLife*time.Second {
			t.Fatalf("%s: token expires in %v, want at most %ds (keystone.conf [token] expiration)", r.name, life,
				realTokenLife)
		}
		if tok.ExpiresAt.After(latest) {
			latest = tok.ExpiresAt
		}
		var err error
		if r.w, err = r.d.Writer(testCtx(t), "blobs/upload", 0); err != nil {
			t.Fatal(err)
		}
		r.first = randomBytes(3*mib, uint64(30+i)) // one segment goes up now, with the first token
		if _, err := r.w.Write(r.first); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	time.Sleep(time.Until(latest) + 1500*time.Millisecond)
	for _, r := range runs {
		if code := swiftStatus(t, env, r.token); code != http.StatusUnauthorized {
			t.Fatalf("%s: Swift on the expired token: HTTP %d, want 401", r.name, code)
		}
		rest := randomBytes(3*mib, 40)
		if _, err := r.w.Write(rest); err != nil {
			t.Fatalf("%s: Write after the token expired: %v", r.name, err)
		}
		if err := r.w.Commit(testCtx(t)); err != nil {
			t.Fatalf("%s: Commit after the token expired: %v", r.name, err)
		}
		r.w.Close()
		renewed := r.d.sc.ProviderClient.Token()
		if renewed == r.token || swiftStatus(t, env, renewed) != http.StatusNoContent {
			t.Errorf("%s: token after expiry: renewed %v, accepted by Swift: HTTP %d", r.name,
				renewed != r.token, swiftStatus(t, env, renewed))
		}
		checkContent(t, r.d, "blobs/upload", append(r.first, rest...))
		fi, err := r.d.Stat(testCtx(t), "blobs/upload")
		if err != nil || fi.Size != int64(len(r.first)+len(rest)) {
			t.Errorf("%s: Stat: %+v, %v", r.name, fi, err)
		}
	}
}
