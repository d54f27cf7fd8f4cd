package appserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/jsonrpc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait in these tests; nothing legitimate takes
// this long, so hitting it is a hang.
const waitTimeout = 5 * time.Second

// testClient drives one in-memory connection to a server.
type testClient struct {
	t      *testing.T
	conn   appserver.Connection
	msgs   chan []byte
	closed chan error // receives the read error once the server closes
	sess   *appserver.Session
}

// connect opens an in-memory connection to srv and reads it in the
// background. The connection is closed when the test ends.
func connect(t *testing.T, srv *appserver.Server) *testClient {
	t.Helper()
	client, server := appserver.NewInMemoryTransports()
	sess, err := srv.Connect(context.Background(), server)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	c := &testClient{t: t, conn: client, msgs: make(chan []byte, 1024), closed: make(chan error, 1), sess: sess}
	go func() {
		for {
			m, err := client.Read()
			if err != nil {
				c.closed <- err
				close(c.msgs)
				return
			}
			c.msgs <- m
		}
	}()
	t.Cleanup(func() {
		_ = client.Close(nil)
		sess.Wait()
	})
	return c
}

func (c *testClient) send(msg string) {
	c.t.Helper()
	if err := c.conn.Write([][]byte{[]byte(msg)}); err != nil {
		c.t.Fatalf("send %s: %v", msg, err)
	}
}

// recv returns the next message from the server.
func (c *testClient) recv() []byte {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatalf("connection closed while waiting for a message")
		}
		return m
	case <-time.After(waitTimeout):
		c.t.Fatalf("no message from the server within %v", waitTimeout)
	}
	return nil
}

// recvMsg decodes the next message.
func (c *testClient) recvMsg() jsonrpc.Message {
	c.t.Helper()
	raw := c.recv()
	m, err := jsonrpc.DecodeMessage(raw)
	if err != nil {
		c.t.Fatalf("server sent an invalid message %s: %v", raw, err)
	}
	return m
}

// response waits for the response with id, failing on anything else.
func (c *testClient) response(id jsonrpc.ID) *jsonrpc.Response {
	c.t.Helper()
	m := c.recvMsg()
	r, ok := m.(*jsonrpc.Response)
	if !ok || r.ID != id {
		c.t.Fatalf("got %#v, want the response to %v", m, id)
	}
	return r
}

// call sends a request with an integer id and returns its response,
// expecting nothing else to arrive first.
func (c *testClient) call(id int64, method string, params string) *jsonrpc.Response {
	c.t.Helper()
	msg := `{"id":` + jsonInt(id) + `,"method":"` + method + `"`
	if params != "" {
		msg += `,"params":` + params
	}
	c.send(msg + "}")
	return c.response(jsonrpc.Int64ID(id))
}

// initialize performs the handshake with the given capabilities JSON.
func (c *testClient) initialize(caps string) {
	c.t.Helper()
	params := `{"clientInfo":{"name":"test","title":null,"version":"1.0"}`
	if caps != "" {
		params += `,"capabilities":` + caps
	}
	r := c.call(0, "initialize", params+"}")
	if r.Error != nil {
		c.t.Fatalf("initialize: %v", r.Error)
	}
}

// expectSilence fails if the server sends anything within d.
func (c *testClient) expectSilence(d time.Duration) {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if ok {
			c.t.Fatalf("expected no message, got %s", m)
		}
	case <-time.After(d):
	}
}

// waitClosed waits for the server to close the connection and returns the
// close reason it gave.
func (c *testClient) waitClosed() *appserver.CloseError {
	c.t.Helper()
	for {
		select {
		case _, ok := <-c.msgs:
			if ok {
				continue
			}
			err := <-c.closed
			var ce *appserver.CloseError
			if !errors.As(err, &ce) {
				c.t.Fatalf("connection ended with %v, want a *CloseError", err)
			}
			return ce
		case <-time.After(waitTimeout):
			c.t.Fatalf("connection not closed within %v", waitTimeout)
		}
	}
}

func wantError(t *testing.T, r *jsonrpc.Response, code int64, message string) {
	t.Helper()
	if r.Error == nil {
		t.Fatalf("got result %s, want error %d %q", r.Result, code, message)
	}
	if r.Error.Code != code || r.Error.Message != message {
		t.Fatalf("got error %d %q, want %d %q", r.Error.Code, r.Error.Message, code, message)
	}
}

func wantResult(t *testing.T, r *jsonrpc.Response, want string) {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("got error %v, want result %s", r.Error, want)
	}
	if !jsonEqual(r.Result, []byte(want)) {
		t.Fatalf("got result %s, want %s", r.Result, want)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
