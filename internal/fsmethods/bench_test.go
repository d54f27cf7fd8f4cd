package fsmethods

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/jsonrpc"
)

// BenchmarkGetMetadata measures fs/getMetadata through the engine and the
// in-memory transport with the shape: 16 connections, each with 8
// requests in flight. It reports requests per second.
func BenchmarkGetMetadata(b *testing.B) {
	const conns, depth = 16, 8
	dir := b.TempDir()
	write(b, dir+"/f", "x")
	e := newEnv(b, Options{})
	req := []byte(`{"id":1,"method":"fs/getMetadata","params":{"path":"` + dir + `/f"}}`)

	type conn struct {
		c    appserver.Connection
		sess *appserver.Session
	}
	cs := make([]conn, conns)
	for i := range cs {
		cc, sc := appserver.NewInMemoryTransports()
		sess, err := e.srv.Connect(context.Background(), sc)
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = conn{cc, sess}
		_ = cc.Write([][]byte{[]byte(`{"id":0,"method":"initialize","params":{"clientInfo":{"name":"b","version":"1"}}}`)})
		if _, err := cc.Read(); err != nil {
			b.Fatal(err)
		}
	}
	// Check one answer before measuring.
	_ = cs[0].c.Write([][]byte{req})
	raw, _ := cs[0].c.Read()
	if m, err := jsonrpc.DecodeMessage(raw); err != nil || m.(*jsonrpc.Response).Error != nil {
		b.Fatalf("answer %s", raw)
	}

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N/conns + 1
	for _, c := range cs {
		wg.Add(2)
		credits := make(chan struct{}, depth)
		for range depth {
			credits <- struct{}{}
		}
		go func() { // writer: keeps depth requests in flight
			defer wg.Done()
			for range per {
				<-credits
				if err := c.c.Write([][]byte{req}); err != nil {
					return
				}
			}
		}()
		go func() { // reader
			defer wg.Done()
			for range per {
				if _, err := c.c.Read(); err != nil {
					return
				}
				credits <- struct{}{}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(per*conns)/elapsed.Seconds(), "req/s")
	for _, c := range cs {
		_ = c.c.Close(nil)
		c.sess.Wait()
	}
}

// BenchmarkGetMetadataHandler measures the handler alone: decoding the
// params, the path check, statx and the answer.
func BenchmarkGetMetadataHandler(b *testing.B) {
	dir := b.TempDir()
	write(b, dir+"/f", "x")
	f := newFS(Options{})
	req := &appserver.Request{Method: "fs/getMetadata", Params: []byte(`{"path":"` + dir + `/f"}`)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.getMetadata(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// The handler allocates only its answer and the path string.
func TestGetMetadataAllocs(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/f", "x")
	f := newFS(Options{})
	req := &appserver.Request{Method: "fs/getMetadata", Params: []byte(`{"path":"` + dir + `/f"}`)}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := f.getMetadata(ctx, req); err != nil {
			t.Fatal(err)
		}
	})
	// 1 path string, 1 answer buffer, 1 json.RawMessage boxed in `any`.
	if allocs > 3 {
		t.Errorf("fs/getMetadata handler: %v allocations per call, want ≤ 3", allocs)
	}
	t.Logf("%v allocations per call", allocs)
}
