package e2e

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// metricValue scrapes baseURL/metrics and returns the value of the sample
// whose name and labels (in Prometheus text form, labels sorted by name as
// the client library writes them) are sample, e.g.
// `shadowreg_gc_runs_total{result="ok"}`; -1 when it is absent.
func metricValue(t testing.TB, baseURL, sample string) float64 {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == sample {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				t.Fatalf("/metrics: %s: bad value %q", sample, value)
			}
			return v
		}
	}
	return -1
}
