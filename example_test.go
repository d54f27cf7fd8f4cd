package appserver_test

import (
	"context"
	"fmt"

	"github.com/appserver-go/appserver"
)

// Example shows a server with one typed method, driven by an in-memory
// client: the handshake, a call, and the unknown-method error.
func Example() {
	srv := appserver.NewServer(&appserver.ServerOptions{StateDir: "/home/me/.appserver"})
	defer srv.Close()

	type greetParams struct {
		Name string `json:"name"`
	}
	srv.AddMethod(appserver.Method{
		Name: "greet",
		Handler: appserver.Typed(func(ctx context.Context, s *appserver.Session, p greetParams) (map[string]string, error) {
			return map[string]string{"greeting": "hello, " + p.Name}, nil
		}),
	})

	client, server := appserver.NewInMemoryTransports()
	if _, err := srv.Connect(context.Background(), server); err != nil {
		panic(err)
	}
	defer client.Close(nil)

	send := func(msg string) {
		_ = client.Write([][]byte{[]byte(msg)})
		reply, _ := client.Read()
		fmt.Println(string(reply))
	}
	send(`{"id":1,"method":"greet","params":{"name":"you"}}`)
	send(`{"id":2,"method":"initialize","params":{"clientInfo":{"name":"example","version":"1.0"}}}`)
	send(`{"id":3,"method":"greet","params":{"name":"you"}}`)
	send(`{"id":4,"method":"nope","params":{}}`)
	// Output:
	// {"id":1,"error":{"code":-32600,"message":"Not initialized"}}
	// {"id":2,"result":{"userAgent":"appserver/0.0.0 (linux; x86_64) (example; 1.0)","codexHome":"/home/me/.appserver","platformFamily":"unix","platformOs":"linux"}}
	// {"id":3,"result":{"greeting":"hello, you"}}
	// {"id":4,"error":{"code":-32600,"message":"Invalid request: unknown variant `nope`"}}
}

// ExampleSession_Call shows a server-to-client request, such as an approval.
func ExampleSession_Call() {
	srv := appserver.NewServer(nil)
	defer srv.Close()
	client, server := appserver.NewInMemoryTransports()
	sess, _ := srv.Connect(context.Background(), server)
	defer client.Close(nil)

	// The client side: show the request and accept it.
	go func() {
		req, _ := client.Read()
		fmt.Println(string(req))
		_ = client.Write([][]byte{[]byte(`{"id":0,"result":{"decision":"accept"}}`)})
	}()

	var answer struct {
		Decision string `json:"decision"`
	}
	err := sess.Call(context.Background(), "item/commandExecution/requestApproval", map[string]string{"command": "make test"}, &answer)
	fmt.Println("decision:", answer.Decision, err)
	// Output:
	// {"id":0,"method":"item/commandExecution/requestApproval","params":{"command":"make test"}}
	// decision: accept <nil>
}
