package main

import (
	"fmt"
	"math"
	"slices"
)

// summary is median and range over reps: on a shared 2-core machine the median is
// the number to quote, the range shows how noisy it was.
type summary struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

func summarize(vs []float64) summary {
	if len(vs) == 0 {
		return summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return summary{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

func (r *result) values() []float64 {
	var vs []float64
	for _, s := range r.Samples {
		vs = append(vs, s.Value)
	}
	return vs
}

func (r *result) extra(e Extra) []float64 {
	var vs []float64
	for _, s := range r.Samples {
		if v, ok := s.Extra[e.Key]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// extraSummary is the median over reps, or for counts the total.
func (r *result) extraSummary(e Extra) summary {
	vs := r.extra(e)
	if !e.Sum || len(vs) == 0 {
		return summarize(vs)
	}
	var t float64
	for _, v := range vs {
		t += v
	}
	return summary{Median: t, Min: t, Max: t, N: len(vs)}
}

// num prints with about three significant digits, no exponent.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
