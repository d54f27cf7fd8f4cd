package main

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	seq := func(n int) []time.Duration {
		d := make([]time.Duration, n)
		for i := range d {
			d[i] = time.Duration(i+1) * time.Millisecond
		}
		return d
	}
	tests := []struct {
		n    int
		p    float64
		want time.Duration
	}{
		{0, 50, 0},
		{1, 50, time.Millisecond},
		{1, 99, time.Millisecond},
		{2, 50, 1 * time.Millisecond},
		{2, 51, 2 * time.Millisecond},
		{10, 50, 5 * time.Millisecond},
		{10, 99, 10 * time.Millisecond},
		{100, 50, 50 * time.Millisecond},
		{100, 99, 99 * time.Millisecond},
		{100, 100, 100 * time.Millisecond},
		{200, 99, 198 * time.Millisecond},
		{1000, 99, 990 * time.Millisecond},
		{1000, 99.9, 999 * time.Millisecond},
		{5, 0, 1 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := percentile(seq(tc.n), tc.p); got != tc.want {
			t.Errorf("percentile(1..%d ms, %v) = %v, want %v", tc.n, tc.p, got, tc.want)
		}
	}
	// Unsorted input is sorted first.
	d := sortDurations([]time.Duration{5, 1, 4, 2, 3})
	if got := percentile(d, 50); got != 3 {
		t.Errorf("median of 1..5 = %v, want 3", got)
	}
}

func TestMedianAndSum(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		in       []float64
		med, tot float64
		medIsNaN bool
		totIsNaN bool
	}{
		{in: nil, medIsNaN: true, totIsNaN: true},
		{in: []float64{nan}, medIsNaN: true, totIsNaN: true},
		{in: []float64{3}, med: 3, tot: 3},
		{in: []float64{3, 1}, med: 2, tot: 4},
		{in: []float64{5, nan, 1, 3}, med: 3, tot: 9},
		{in: []float64{4, 1, 3, 2}, med: 2.5, tot: 10},
	}
	for _, tc := range tests {
		m, s := median(tc.in), sum(tc.in)
		if tc.medIsNaN != math.IsNaN(m) || (!tc.medIsNaN && m != tc.med) {
			t.Errorf("median(%v) = %v, want %v", tc.in, m, tc.med)
		}
		if tc.totIsNaN != math.IsNaN(s) || (!tc.totIsNaN && s != tc.tot) {
			t.Errorf("sum(%v) = %v, want %v", tc.in, s, tc.tot)
		}
	}
}

func TestFormatNum(t *testing.T) {
	tests := []struct {
		v    float64
		prec int
		want string
	}{
		{5475.4, 0, "5,475"},
		{1234567.891, 2, "1,234,567.89"},
		{0.856, 2, "0.86"},
		{-1234, 0, "-1,234"},
		{999, 0, "999"},
		{math.NaN(), 1, "n/a"},
	}
	for _, tc := range tests {
		if got := formatNum(tc.v, tc.prec); got != tc.want {
			t.Errorf("formatNum(%v, %d) = %q, want %q", tc.v, tc.prec, got, tc.want)
		}
	}
}

func TestParseShape(t *testing.T) {
	if sh, err := parseShape(" 16x8"); err != nil || sh != (shape{16, 8}) {
		t.Errorf("parseShape(16x8) = %v, %v", sh, err)
	}
	for _, bad := range []string{"16", "x8", "16x", "0x8", "16x-1", "axb", "16x8x", "1.5x2"} {
		if _, err := parseShape(bad); err == nil {
			t.Errorf("parseShape(%q) accepted", bad)
		}
	}
}

func TestCores(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := cpuSnap{at: t0, self: 10, server: 20, serverOK: true, machOK: true,
		machine: machineCPU{Procs: 100, IRQ: 5, IOWait: 1, Total: 400, NCPU: 2}}
	// Over 2 s: the bench used 0.5 s, the server 2 s, the machine's
	// processes 3 s (so others 0.5 s), irq 0.4 s, and only 3 s of the
	// 4 CPU-seconds were accounted at all (the VM was paused for 1).
	b := cpuSnap{at: t0.Add(2 * time.Second), self: 10.5, server: 22, serverOK: true, machOK: true,
		machine: machineCPU{Procs: 103, IRQ: 5.4, IOWait: 1, Total: 403, NCPU: 2}}
	u := cores(a, b)
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	if !near(u.Bench, 0.25) || !near(u.Server, 1) || !near(u.Others, 0.25) || !near(u.IRQ, 0.2) || !near(u.Lost, 0.5) || !near(u.noise(), 0.75) {
		t.Errorf("cores = %+v", u)
	}
	// Without a server pid, "others" is unknown but the stall still counts.
	a.serverOK, b.serverOK = false, false
	u = cores(a, b)
	if !math.IsNaN(u.Server) || !math.IsNaN(u.Others) || !near(u.noise(), 0.5) {
		t.Errorf("cores without server = %+v", u)
	}
}
