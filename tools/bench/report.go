package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
)

// header describes the run; it heads the table and the JSON.
type header struct {
	Date      string    `json:"date"`
	CPU       string    `json:"cpu"`
	Cores     int       `json:"cores"`
	Go        string    `json:"go"`
	BlobBytes int64     `json:"blob_bytes"`
	Reps      int       `json:"reps"`
	Dir       string    `json:"dir"`
	FS        string    `json:"fs"`
	Load      [2]string `json:"loadavg_start_end"`
	Targets   []*Target `json:"targets"`
}

// verdict compares medians: ours/ref, each as a share of the limit, and the goal.
type verdict struct {
	Ratio, OursPct, RefPct float64 // NaN when not computable
	Met                    *bool
}

func judge(cr *caseResult) verdict {
	o, r := summarize(cr.Ours.values()).Median, summarize(cr.Ref.values()).Median
	v := verdict{Ratio: o / r, OursPct: math.NaN(), RefPct: math.NaN()}
	g := cr.Case.Goal
	if cr.Limit != nil {
		lim := summarize(cr.Limit.values()).Median
		v.OursPct, v.RefPct = 100*o/lim, 100*r/lim
		if g.VsLimit > 0 && !math.IsNaN(v.OursPct) {
			met := v.OursPct >= 100*g.VsLimit
			v.Met = &met
		}
	}
	if g.VsRef > 0 && !math.IsNaN(v.Ratio) {
		met := v.Ratio >= g.VsRef
		v.Met = &met
	}
	return v
}

func cell(r *result, s summary) string {
	if r == nil {
		return ""
	}
	if s.N == 0 {
		if r.Err != nil {
			return "FAILED"
		}
		return "-"
	}
	return fmt.Sprintf("%s [%s–%s]", num(s.Median), num(s.Min), num(s.Max))
}

func pct(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return fmt.Sprintf("%.0f%%", v)
}

func ratio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return fmt.Sprintf("%.2fx", v)
}

func metText(m *bool) string {
	switch {
	case m == nil:
		return ""
	case *m:
		return "yes"
	}
	return "NO"
}

// printTable writes the human-readable report: per case the median [min–max] of
// ours, the reference and the machine limit, ours/ref, each registry as a share of
// the limit, and the goal.
func printTable(w io.Writer, h header, crs []*caseResult) {
	fmt.Fprintf(w, "shadowreg bench  %s  |  CPU %s, %d cores  |  %s  |  blob %s  |  %d reps interleaved, median [min–max]\n",
		h.Date, h.CPU, h.Cores, h.Go, mib(h.BlobBytes), h.Reps)
	fmt.Fprintf(w, "data dir %s (%s)  |  load average %s at start, %s at end\n", h.Dir, h.FS, h.Load[0], h.Load[1])
	for _, t := range h.Targets {
		fmt.Fprintf(w, "  %-11s %s\n", t.Name, t.Desc)
	}
	fmt.Fprintln(w)
	if len(crs) == 0 {
		return
	}
	ours, ref := crs[0].Ours.name(), crs[0].Ref.name()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "case\tunit\t%s\t%s\t%s/ref\tmachine limit\t%s %%lim\tref %%lim\ttarget for %s\tmet\n",
		ours, ref, ours, ours, ours)
	var errs []string
	for _, cr := range crs {
		c, v := cr.Case, judge(cr)
		lim := ""
		if cr.Limit != nil {
			lim = cell(cr.Limit, summarize(cr.Limit.values()))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Unit,
			cell(cr.Ours, summarize(cr.Ours.values())), cell(cr.Ref, summarize(cr.Ref.values())),
			ratio(v.Ratio), lim, pct(v.OursPct), pct(v.RefPct), c.Goal, metText(v.Met))
		for _, e := range c.Extras {
			so, sr := cr.Ours.extraSummary(e), cr.Ref.extraSummary(e)
			rt := ""
			if !e.Sum {
				rt = ratio(so.Median / sr.Median)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t\t\t\t\t\n", e.Label, e.Unit, extraCell(cr.Ours, so, e), extraCell(cr.Ref, sr, e), rt)
		}
		for _, r := range []*result{cr.Ours, cr.Ref, cr.Limit} {
			if r != nil && r.Err != nil {
				errs = append(errs, fmt.Sprintf("%s on %s: %v", c.Key, r.name(), r.Err))
			}
		}
		for _, p := range cr.Profiles {
			errs = append(errs, "profile: "+p)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "MB/s = 10^6 bytes/s over the whole operation (push: POST to 201; pull: GET to last byte).")
	fmt.Fprintln(w, "limit: plain net/http on the same loopback and disk (pull: ServeFile/sendfile; push: SHA-256 + write + fsync).")
	for _, e := range errs {
		fmt.Fprintln(w, e)
	}
}

func extraCell(r *result, s summary, e Extra) string {
	if e.Sum && s.N > 0 {
		return num(s.Median)
	}
	return cell(r, s)
}

// JSON form: the same numbers, machine-readable.
type jsonResult struct {
	Target  string             `json:"target"`
	Samples []float64          `json:"samples"`
	Summary *summary           `json:"summary,omitempty"`
	Extra   map[string]summary `json:"extra,omitempty"`
	Error   string             `json:"error,omitempty"`
}

type jsonCase struct {
	Key          string      `json:"key"`
	Name         string      `json:"name"`
	Unit         string      `json:"unit"`
	Goal         string      `json:"goal"`
	Ours         *jsonResult `json:"ours"`
	Ref          *jsonResult `json:"ref"`
	Limit        *jsonResult `json:"limit,omitempty"`
	Ratio        *float64    `json:"ours_over_ref,omitempty"`
	OursPctLimit *float64    `json:"ours_pct_of_limit,omitempty"`
	RefPctLimit  *float64    `json:"ref_pct_of_limit,omitempty"`
	Met          *bool       `json:"goal_met,omitempty"`
	Profiles     []string    `json:"profiles,omitempty"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func toJSON(c *Case, r *result) *jsonResult {
	if r == nil {
		return nil
	}
	j := &jsonResult{Target: r.name(), Samples: r.values()}
	if s := summarize(j.Samples); s.N > 0 {
		j.Summary = &s
	}
	for _, e := range c.Extras {
		if s := r.extraSummary(e); s.N > 0 {
			if j.Extra == nil {
				j.Extra = map[string]summary{}
			}
			j.Extra[e.Key] = s
		}
	}
	if r.Err != nil {
		j.Error = r.Err.Error()
	}
	return j
}

func writeJSON(path string, h header, crs []*caseResult) error {
	out := struct {
		header
		Cases []jsonCase `json:"cases"`
	}{header: h}
	for _, cr := range crs {
		v := judge(cr)
		out.Cases = append(out.Cases, jsonCase{
			Key: cr.Case.Key, Name: cr.Case.Name, Unit: cr.Case.Unit, Goal: strings.TrimSpace(cr.Case.Goal.String()),
			Ours: toJSON(cr.Case, cr.Ours), Ref: toJSON(cr.Case, cr.Ref), Limit: toJSON(cr.Case, cr.Limit),
			Ratio: finite(v.Ratio), OursPctLimit: finite(v.OursPct), RefPctLimit: finite(v.RefPct), Met: v.Met,
			Profiles: cr.Profiles,
		})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
