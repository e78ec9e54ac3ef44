package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// header describes the run; it heads the table and the JSON.
type header struct {
	Date       string         `json:"date"`
	CPU        string         `json:"cpu"`
	Cores      int            `json:"cores"`
	Go         string         `json:"go"`
	BlobBytes  int64          `json:"blob_bytes"`
	Reps       int            `json:"reps"`
	Dir        string         `json:"dir"`
	FS         string         `json:"fs"`
	Load       [2]string      `json:"loadavg_start_end"`
	Image      string         `json:"image,omitempty"` // the pull-through image, when those cases ran
	ImageBytes int64          `json:"image_bytes,omitempty"`
	Limits     *machineLimits `json:"limits,omitempty"`
	Elapsed    string         `json:"elapsed"`
	Targets    []*Target      `json:"targets"`
}

// verdict compares medians: ours/ref, each against the Limit column (a share of
// the machine limit, or a ratio to the case's baseline), and the goal.
type verdict struct {
	Ratio, OursVsLim, RefVsLim float64 // NaN when not computable
	Met                        *bool
}

func judge(cr *caseResult) verdict {
	o, r := summarize(cr.Ours.values()).Median, summarize(cr.Ref.values()).Median
	v := verdict{Ratio: o / r, OursVsLim: math.NaN(), RefVsLim: math.NaN()}
	g := cr.Case.Goal
	if cr.Limit != nil {
		lim := summarize(cr.Limit.values()).Median
		v.OursVsLim, v.RefVsLim = o/lim, r/lim
	}
	set := func(ok bool) { v.Met = &ok }
	switch {
	case g.VsLimit > 0 && !math.IsNaN(v.OursVsLim):
		set(v.OursVsLim >= g.VsLimit)
	case g.MaxVsLimit > 0 && !math.IsNaN(v.OursVsLim):
		set(v.OursVsLim <= g.MaxVsLimit)
	case g.VsRef > 0 && !math.IsNaN(v.Ratio):
		set(v.Ratio >= g.VsRef)
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

// printTable writes the human-readable report. Cases against the machine limit
// (and those with no third column) form the first table: per case the median
// [min–max] of ours, the reference and the limit, ours/ref, each registry as a
// share of the limit, and the goal. Cases against a baseline (pull-through vs
// direct) form the second, with ratios to the baseline.
func printTable(w io.Writer, h header, crs []*caseResult) {
	blob := "no blob"
	if h.BlobBytes > 0 {
		blob = "blob " + mib(h.BlobBytes)
	}
	fmt.Fprintf(w, "shadowreg bench  %s  |  CPU %s, %d cores  |  %s  |  %s  |  %d reps interleaved, median [min–max]\n",
		h.Date, h.CPU, h.Cores, h.Go, blob, h.Reps)
	fmt.Fprintf(w, "data dir %s (%s)  |  load average (1 min) %s at start, %s at end  |  run took %s\n", h.Dir, h.FS, h.Load[0], h.Load[1], h.Elapsed)
	if h.Image != "" {
		fmt.Fprintf(w, "pull-through image %s\n", h.Image)
	}
	for _, t := range h.Targets {
		fmt.Fprintf(w, "  %-14s %s  %s\n", t.Key, t.URL, t.Desc)
	}
	var lims, bases, swifts []*caseResult
	for _, cr := range crs {
		switch {
		case cr.Case.Base != "":
			bases = append(bases, cr)
		case cr.Case.Ours == "shadowreg-swift":
			swifts = append(swifts, cr) // their own columns: swift, and shadowreg on S3
		default:
			lims = append(lims, cr)
		}
	}
	var notes []string
	if len(lims) > 0 {
		fmt.Fprintln(w)
		notes = append(notes, printGroup(w, lims, "machine limit", " %lim", func(v float64) string { return pct(100 * v) })...)
		fmt.Fprintln(w)
		fmt.Fprintln(w, "MB/s = 10^6 bytes/s over the whole operation (push: POST to 201; pull: GET to last byte).")
		if slices.ContainsFunc(lims, func(cr *caseResult) bool { return cr.Limit != nil }) {
			fmt.Fprintln(w, "limit: plain net/http on the same loopback and disk (pull: ServeFile/sendfile; push: SHA-256 + write + fsync).")
		}
	}
	if len(swifts) > 0 {
		fmt.Fprintln(w)
		notes = append(notes, printGroup(w, swifts, "machine limit", " %lim", func(v float64) string { return pct(100 * v) })...)
		fmt.Fprintln(w)
		fmt.Fprintln(w, "swift: shadowreg on the Swift driver; ref: shadowreg on the S3 driver on MinIO, same machine (swift/ref = Swift's throughput as a share of S3's).")
	}
	for len(bases) > 0 { // one table per baseline
		base := bases[0].Case.Base
		var group []*caseResult
		group, bases = splitBy(bases, func(cr *caseResult) bool { return cr.Case.Base == base })
		fmt.Fprintln(w)
		notes = append(notes, printGroup(w, group, base, "/"+strings.ReplaceAll(base, " ", "-"), ratio)...)
		fmt.Fprintln(w)
		switch base {
		case "direct":
			fmt.Fprintln(w, "s = seconds from the manifest GET to the last byte of the last blob (lower is better); ratios are of those times.")
			fmt.Fprintln(w, "direct: the same pull straight from the upstream, timed in the same interleaved rounds; cold: a new cache on empty storage every rep.")
		case "no auth":
			fmt.Fprintln(w, "bearer: every request with one HS256 token; basic: with a user and its bcrypt-hashed password; no auth: the same server open.")
		}
	}
	printLimits(w, h, crs)
	for _, e := range notes {
		fmt.Fprintln(w, e)
	}
}

// splitBy returns the results that keep selects, and the others, in order.
func splitBy(crs []*caseResult, keep func(*caseResult) bool) (in, out []*caseResult) {
	for _, cr := range crs {
		if keep(cr) {
			in = append(in, cr)
		} else {
			out = append(out, cr)
		}
	}
	return in, out
}

// limitShare is ours and the reference as a share of one limit of a case
// (machineLimits.bindings).
type limitShare struct {
	Limit    limit   `json:"limit"`
	OursMBps float64 `json:"ours_mbps"`
	RefMBps  float64 `json:"ref_mbps"`
	OursPct  float64 `json:"ours_pct"`
	RefPct   float64 `json:"ref_pct"`
}

func sharesOf(h header, cr *caseResult) []limitShare {
	o, r := summarize(cr.Ours.values()).Median, summarize(cr.Ref.values()).Median
	if cr.Case.Lower { // seconds for the image: its rate
		if h.ImageBytes == 0 {
			return nil
		}
		o, r = float64(h.ImageBytes)/1e6/o, float64(h.ImageBytes)/1e6/r
	}
	var out []limitShare
	for _, l := range h.Limits.bindings(cr.Case.Key) {
		out = append(out, limitShare{Limit: l, OursMBps: o, RefMBps: r, OursPct: 100 * o / l.MBps, RefPct: 100 * r / l.MBps})
	}
	return out
}

// printLimits prints the limits measured in this run and each case's rate
// as a share of each limit that binds it.
func printLimits(w io.Writer, h header, crs []*caseResult) {
	if h.Limits == nil {
		return
	}
	m := h.Limits
	fmt.Fprintln(w)
	send := "not measured (no case uses the blob)"
	if m.Sendfile > 0 {
		send = num(m.Sendfile) + " MB/s"
	}
	fmt.Fprintf(w, "machine limits, this run (best of 3): durable write %s MB/s (1 MiB writes + fdatasync), SHA-256 %s MB/s on one core, loopback sendfile %s\n",
		num(m.DurableWrite), num(m.SHA256), send)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tlimit\tMB/s\tours MB/s\tours %\tref MB/s\tref %")
	rows := 0
	for _, cr := range crs {
		for _, ls := range sharesOf(h, cr) {
			rows++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cr.Case.Name, ls.Limit.Name, num(ls.Limit.MBps),
				num(ls.OursMBps), pct(ls.OursPct), num(ls.RefMBps), pct(ls.RefPct))
		}
	}
	if rows > 0 {
		tw.Flush()
	}
}

// printGroup prints one table; limName labels the third column, vsSuffix the
// two columns relating ours and ref to it, formatted by vsFmt. It returns the
// errors and profile paths to print below.
func printGroup(w io.Writer, crs []*caseResult, limName, vsSuffix string, vsFmt func(float64) string) []string {
	ours, ref := colName(crs[0].Ours.Key), colName(crs[0].Ref.Key)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "case\tunit\t%s\t%s\t%s/ref\t%s\t%s%s\tref%s\ttarget for %s\tmet\n",
		ours, ref, ours, limName, ours, vsSuffix, vsSuffix, ours)
	var notes []string
	for _, cr := range crs {
		c, v := cr.Case, judge(cr)
		lim := ""
		if cr.Limit != nil {
			lim = cell(cr.Limit, summarize(cr.Limit.values()))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Unit,
			cell(cr.Ours, summarize(cr.Ours.values())), cell(cr.Ref, summarize(cr.Ref.values())),
			ratio(v.Ratio), lim, vsFmt(v.OursVsLim), vsFmt(v.RefVsLim), c.goalText(), metText(v.Met))
		for _, e := range c.Extras {
			so, sr := cr.Ours.extraSummary(e), cr.Ref.extraSummary(e)
			rt, lc := "", ""
			if !e.Sum && !e.NoRatio {
				rt = ratio(so.Median / sr.Median)
			}
			if cr.Limit != nil && len(cr.Limit.extra(e)) > 0 {
				lc = extraCell(cr.Limit, cr.Limit.extraSummary(e), e)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t\t\t\t\n", e.Label, e.Unit, extraCell(cr.Ours, so, e), extraCell(cr.Ref, sr, e), rt, lc)
		}
		for _, r := range []*result{cr.Ours, cr.Ref, cr.Limit} {
			if r != nil && r.Err != nil {
				notes = append(notes, fmt.Sprintf("%s on %s: %v", c.Key, r.Key, r.Err))
			}
		}
		for _, p := range cr.Profiles {
			notes = append(notes, "profile: "+p)
		}
	}
	tw.Flush()
	return notes
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
	Lower        bool        `json:"lower_is_better,omitempty"`
	Base         string      `json:"base,omitempty"` // the limit entry is this baseline, not a machine limit
	Ratio        *float64    `json:"ours_over_ref,omitempty"`
	OursPctLimit *float64    `json:"ours_pct_of_limit,omitempty"`
	RefPctLimit  *float64    `json:"ref_pct_of_limit,omitempty"`
	OursOverBase *float64    `json:"ours_over_base,omitempty"`
	RefOverBase  *float64    `json:"ref_over_base,omitempty"`
	Met          *bool       `json:"goal_met,omitempty"`
	Profiles     []string    `json:"profiles,omitempty"`
	// Limits: the case against each machine limit that binds it.
	Limits []limitShare `json:"machine_limits,omitempty"`
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
	j := &jsonResult{Target: r.Key, Samples: r.values()}
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
		jc := jsonCase{
			Key: cr.Case.Key, Name: cr.Case.Name, Unit: cr.Case.Unit, Goal: strings.TrimSpace(cr.Case.goalText()),
			Lower: cr.Case.Lower, Base: cr.Case.Base,
			Ours: toJSON(cr.Case, cr.Ours), Ref: toJSON(cr.Case, cr.Ref), Limit: toJSON(cr.Case, cr.Limit),
			Ratio: finite(v.Ratio), Met: v.Met, Profiles: cr.Profiles,
		}
		if cr.Case.Base != "" {
			jc.OursOverBase, jc.RefOverBase = finite(v.OursVsLim), finite(v.RefVsLim)
		} else {
			jc.OursPctLimit, jc.RefPctLimit = finite(100*v.OursVsLim), finite(100*v.RefVsLim)
		}
		jc.Limits = sharesOf(h, cr)
		out.Cases = append(out.Cases, jc)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
