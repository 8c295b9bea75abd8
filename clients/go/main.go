// Command modelrt-example calls a modelrt server from Go with the code that `buf generate` makes
// from protos/ (package modelrt.dev/gen/go/modelrt/v1): health Check, Predict, Generate (each item
// printed as it arrives), a lock-step Stream, and the google.rpc.ErrorInfo of a failed call.
//
//	modelrt-example -addr 127.0.0.1:50051 -model echo
//
// clients/README.md shows how to build it (`make go-client`) and what each step prints.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"time"

	modelrtv1 "modelrt.dev/gen/go/modelrt/v1"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "server address, host:port")
	model := flag.String("model", "echo", "a model that serves predict, generate and stream")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Plaintext for a local server; use grpc.WithTransportCredentials for TLS.
	conn, err := grpc.DialContext(ctx, *addr, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		log.Fatalf("dial %s: %v", *addr, err)
	}
	defer conn.Close()
	client := modelrtv1.NewModelRuntimeClient(conn)

	check(ctx, healthpb.NewHealthClient(conn), "")
	check(ctx, healthpb.NewHealthClient(conn), *model)
	predict(ctx, client, *model)
	generate(ctx, client, *model)
	stream(ctx, client, *model)
	failure(ctx, client)
}

// text is a Value holding a UTF-8 string.
func text(s string) *modelrtv1.Value {
	return &modelrtv1.Value{Kind: &modelrtv1.Value_Text{Text: s}}
}

// textOf reads the "text" field of a reply's structured output: a model's str, number, list or dict
// comes back as `structured` (a google.protobuf.Value); arrays and bytes come back under Outputs.
func textOf(reply interface{ GetStructured() *structpb.Value }) string {
	return reply.GetStructured().GetStructValue().GetFields()["text"].GetStringValue()
}

// check asks the standard health service: "" is the whole server, a model name is that model.
func check(ctx context.Context, health healthpb.HealthClient, service string) {
	reply, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		log.Fatalf("health %q: %v", service, err)
	}
	fmt.Printf("health %q: %s\n", service, reply.GetStatus())
}

func predict(ctx context.Context, client modelrtv1.ModelRuntimeClient, model string) {
	reply, err := client.Predict(ctx, &modelrtv1.PredictRequest{
		Model:  model,
		Inputs: map[string]*modelrtv1.Value{"text": text("hello from go")},
	})
	if err != nil {
		log.Fatalf("predict: %v", err)
	}
	fmt.Printf("predict: %s\n", textOf(reply))
}

// generate prints every item when it arrives, with the time since the call started.
func generate(ctx context.Context, client modelrtv1.ModelRuntimeClient, model string) {
	params, err := structpb.NewStruct(map[string]interface{}{"n": 3})
	if err != nil {
		log.Fatalf("parameters: %v", err)
	}
	start := time.Now()
	items, err := client.Generate(ctx, &modelrtv1.GenerateRequest{
		Model:      model,
		Inputs:     map[string]*modelrtv1.Value{"text": text("go")},
		Parameters: params,
	})
	if err != nil {
		log.Fatalf("generate: %v", err)
	}
	for {
		item, err := items.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatalf("generate: %v", err)
		}
		if item.GetError() != nil { // one item failed; the stream goes on
			fmt.Printf("generate[%d] error: %s\n", item.GetIndex(), item.GetError().GetReason())
			continue
		}
		fmt.Printf("generate[%d] at %dms: %s\n", item.GetIndex(),
			time.Since(start).Milliseconds(), textOf(item))
	}
}

// stream sends one request, waits for its answer, then sends the next (lock-step).
func stream(ctx context.Context, client modelrtv1.ModelRuntimeClient, model string) {
	calls, err := client.Stream(ctx)
	if err != nil {
		log.Fatalf("stream: %v", err)
	}
	for _, word := range []string{"one", "two", "three"} {
		request := &modelrtv1.StreamRequest{Inputs: map[string]*modelrtv1.Value{"text": text(word)}}
		if word == "one" {
			request.Model = model // the first message names the model
		}
		if err := calls.Send(request); err != nil {
			log.Fatalf("stream send: %v", err)
		}
		reply, err := calls.Recv()
		if err != nil {
			log.Fatalf("stream receive: %v", err)
		}
		fmt.Printf("stream[%d]: %s -> %s\n", reply.GetIndex(), word, textOf(reply))
	}
	if err := calls.CloseSend(); err != nil {
		log.Fatalf("stream close: %v", err)
	}
	if _, err := calls.Recv(); err != io.EOF {
		log.Fatalf("stream end: %v", err)
	}
}

// failure calls a model that does not exist and decodes the ErrorInfo in the status details.
func failure(ctx context.Context, client modelrtv1.ModelRuntimeClient) {
	_, err := client.Predict(ctx, &modelrtv1.PredictRequest{
		Model:  "no-such-model",
		Inputs: map[string]*modelrtv1.Value{"text": text("x")},
	})
	st, ok := status.FromError(err)
	if err == nil || !ok {
		log.Fatalf("expected a gRPC error, got %v", err)
	}
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			fmt.Printf("error: %s %s %s model=%s\n", st.Code(), info.GetReason(), info.GetDomain(),
				info.GetMetadata()["model"])
			return
		}
	}
	log.Fatalf("no ErrorInfo in %v", st.Proto())
}
