package responses_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/appserver-go/appserver/internal/responses"
	"github.com/appserver-go/appserver/internal/responses/responsestest"
)

// step streams one response, printing its text as it arrives, and returns
// the finished output items.
func step(ctx context.Context, c *responses.Client, req *responses.Request) ([]responses.OutputItem, error) {
	st, err := c.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var done []responses.OutputItem
	for {
		ev, err := st.Next()
		if err == io.EOF {
			return done, nil
		}
		if err != nil {
			return nil, err
		}
		switch ev := ev.(type) {
		case responses.TextDelta:
			fmt.Print(ev.Delta) // the agent sends item/agentMessage/delta
		case responses.ItemDone:
			done = append(done, ev.Item)
		case responses.Completed:
			fmt.Printf(" [%d tokens]\n", ev.Usage.TotalTokens)
		case responses.Failed:
			return nil, ev
		case responses.Incomplete:
			return done, fmt.Errorf("response incomplete: %s", ev.Reason)
		}
	}
}

// stepWithRetries retries a failed step as the reference does.
func stepWithRetries(ctx context.Context, c *responses.Client, req *responses.Request) ([]responses.OutputItem, error) {
	for retry := 0; ; retry++ {
		items, err := step(ctx, c, req)
		if err == nil || !responses.Retryable(err) || retry == responses.MaxRetries {
			return items, err
		}
		fmt.Printf("Reconnecting... %d/%d (%v)\n", retry+1, responses.MaxRetries, err)
		select {
		case <-time.After(responses.Backoff(retry+1, responses.RetryAfter(err))):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// An agent turn: stream a response, run the tools it calls, send their
// outputs back, until the model answers without calling a tool.
func Example_agentTurn() {
	srv := responsestest.NewServer(
		responsestest.Error(503, "overloaded"),
		responsestest.ToolCall("call_1", "exec_command", `{"cmd":"echo hi"}`),
		responsestest.Text("The command ", "printed hi."),
	)
	defer srv.Close()
	client := srv.Client()

	req := &responses.Request{
		Model:        "mock-model",
		Instructions: "You are a coding agent.",
		Input:        []responses.Item{responses.UserText("run echo hi")},
		Tools: []responses.Tool{{
			Name:        "exec_command",
			Description: "Runs a shell command.",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]}`),
		}},
	}
	ctx := context.Background()
	for {
		items, err := stepWithRetries(ctx, client, req)
		if err != nil {
			fmt.Println("turn failed:", err)
			return
		}
		calls := 0
		for _, it := range items {
			req.Input = append(req.Input, it.Input())
			if it.Type == responses.TypeFunctionCall {
				calls++
				fmt.Printf("run %s %s\n", it.Name, it.Arguments)
				req.Input = append(req.Input, responses.FunctionCallOutput(it.CallID, "hi\n"))
			}
		}
		if calls == 0 {
			break
		}
	}
	last := srv.Requests()[2]
	for _, it := range last.Input {
		fmt.Print(it.Type, " ")
	}
	fmt.Println()
	// Output:
	// Reconnecting... 1/5 (responses: unexpected status 503 Service Unavailable: overloaded)
	//  [13 tokens]
	// run exec_command {"cmd":"echo hi"}
	// The command printed hi. [12 tokens]
	// message function_call function_call_output
}
