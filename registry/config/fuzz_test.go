package config

import "testing"

// FuzzParse: any file content is loaded or refused with an error, never a
// panic, and validating what loaded does not panic either.
func FuzzParse(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:5000\ndata-dir: /tmp/x\n"))
	f.Add([]byte("upstreams:\n  docker.io:\n    url: https://registry-1.docker.io\n    tag-ttl: 5m\n"))
	f.Add([]byte("auth:\n  users:\n    - name: a\n      password: \"*0\"\n"))
	f.Add([]byte("gc:\n  interval: -1h\nlimits:\n  idle-timeout: 0s\n"))
	f.Add([]byte("storage:\n  driver: s3\n  s3: {bucket: b, endpoint: \"http://[::1\"}\n"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		_ = c.Validate()
	})
}
