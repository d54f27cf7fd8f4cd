// Package appserver is the engine of an app-server: the long-running
// process that rich clients (terminal UIs, IDE extensions, web and mobile
// apps) drive over JSON-RPC to run a coding agent's commands, files, threads
// and turns. It speaks the wire protocol of the Codex CLI app-server.
//
// A [Server] holds a table of methods and serves any number of
// connections; a [Session] is one connection. Transports frame messages:
// [NewLineConnection] is stdio (one JSON object per line), package
// wstransport serves WebSocket with authentication at the upgrade, and
// [NewInMemoryTransports] connects a client in the same process, for tests.
//
//	srv := appserver.NewServer(&appserver.ServerOptions{StateDir: home})
//	srv.AddMethod(appserver.Method{Name: "fs/readFile", Handler: appserver.Typed(readFile)})
//	sess, err := srv.Connect(ctx, appserver.NewLineConnection(os.Stdin, os.Stdout, nil))
//
// # Protocol
//
// Every connection starts with initialize (answered by the server itself);
// other requests before it get -32600 "Not initialized". Requests on one
// connection run concurrently, each on its own goroutine, and may be
// answered out of order. Unknown methods and bad params get -32600, handler
// failures -32603. Experimental methods and fields need the client's
// experimentalApi capability. Server notifications carry emittedAtMs, and a
// client's optOutNotificationMethods are honoured exactly. The server calls
// the client with [Session.Call], with integer ids from one counter per
// server.
//
// # Limits
//
// Each connection has its own bounds, so one client cannot hurt another:
// at most [ServerOptions.MaxInFlight] running requests (past it, -32001
// "Server overloaded; retry later." for that connection only), and a bounded
// queue of outbound messages (a client that stops reading is disconnected
// with close status 1008 instead of growing memory). [Server.Shutdown]
// refuses new work, lets running requests finish, and closes every
// connection with 1001.
package appserver
