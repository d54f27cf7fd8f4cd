// Package responses is a streaming client for the OpenAI Responses API
// (POST {base}/responses with "stream": true), the wire API of the model
// providers appserver's agent talks to.
//
// One agent step builds a [Request] from the conversation so far, opens a
// [Stream] with [Client.Stream], and reads [Event]s with [Stream.Next] until
// io.EOF:
//
//	st, err := client.Stream(ctx, &responses.Request{
//		Model: "gpt-5", Instructions: prompt, Input: history, Tools: tools,
//	})
//	if err != nil { … }
//	defer st.Close()
//	for {
//		ev, err := st.Next()
//		if err == io.EOF { break }
//		if err != nil { … } // responses.Retryable(err) says whether to try again
//		switch ev := ev.(type) {
//		case responses.TextDelta: // show ev.Delta
//		case responses.ItemDone:  // append ev.Item.Input() to history; run function calls
//		case responses.Completed: // record ev.Usage
//		case responses.Failed:    // the provider gave up: return ev (it is an error)
//		}
//	}
//
// # Latency and bounds
//
// Each event is parsed and returned as soon as the blank line that ends it
// arrives: the parser never waits for more bytes than the current line, so
// a delta reaches the caller microseconds after it reaches the socket. One
// event (and the text accumulated for one item) is bounded by
// [MaxEventSize], so a hostile provider cannot grow memory without bound,
// and a stream silent for [Client.IdleTimeout] counts as disconnected.
//
// # Retries
//
// The package never retries by itself (a retry may repeat output the user
// already saw, which only the agent can judge). It classifies errors with
// [Retryable] and spaces attempts with [Backoff] and [RetryAfter], up to
// [MaxRetries], as the reference does.
//
// The scripted provider in package responsestest stands in for a real one
// in tests.
package responses
