// Calls a modelrt server from Java with the code that `buf generate --template buf.gen.java.yaml`
// makes from protos/ (package dev.modelrt.v1): health Check, Predict, Generate (each item printed
// as it arrives), a lock-step Stream, and the google.rpc.ErrorInfo of a failed call.
//
//   java -cp ... Example 127.0.0.1:50051 echo
//
// clients/README.md shows how to build and run it (`make java-client`) and what it prints.

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import dev.modelrt.example.ErrorInfo;
import dev.modelrt.v1.GenerateRequest;
import dev.modelrt.v1.GenerateResponse;
import dev.modelrt.v1.ModelRuntimeGrpc;
import dev.modelrt.v1.PredictRequest;
import dev.modelrt.v1.PredictResponse;
import dev.modelrt.v1.StreamRequest;
import dev.modelrt.v1.StreamResponse;
import dev.modelrt.v1.Value;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

public final class Example {
  private Example() {}

  public static void main(String[] args) throws Exception {
    String address = args.length > 0 ? args[0] : "127.0.0.1:50051";
    String model = args.length > 1 ? args[1] : "echo";
    // Plaintext for a local server; drop usePlaintext() for TLS.
    ManagedChannel channel = ManagedChannelBuilder.forTarget(address).usePlaintext().build();
    try {
      ModelRuntimeGrpc.ModelRuntimeBlockingStub client =
          ModelRuntimeGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
      HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel);
      check(health, "");
      check(health, model);
      predict(client, model);
      generate(client, model);
      stream(ModelRuntimeGrpc.newStub(channel), model);
      failure(client);
    } finally {
      channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }
  }

  static Value text(String s) {
    return Value.newBuilder().setText(s).build();
  }

  // A model's str, number, list or dict comes back as the `structured` JSON output (a
  // google.protobuf.Value); arrays and bytes come back under outputs. This one returns {"text": ...}.
  static String textOf(com.google.protobuf.Value structured) {
    return structured.getStructValue().getFieldsOrThrow("text").getStringValue();
  }

  // check asks the standard health service: "" is the whole server, a model name is that model.
  static void check(HealthGrpc.HealthBlockingStub health, String service) {
    var reply = health.check(HealthCheckRequest.newBuilder().setService(service).build());
    System.out.printf("health \"%s\": %s%n", service, reply.getStatus());
  }

  static void predict(ModelRuntimeGrpc.ModelRuntimeBlockingStub client, String model) {
    PredictResponse reply =
        client.predict(
            PredictRequest.newBuilder()
                .setModel(model)
                .putInputs("text", text("hello from java"))
                .build());
    System.out.printf("predict: %s%n", textOf(reply.getStructured()));
  }

  // generate prints every item when it arrives, with the time since the call started.
  static void generate(ModelRuntimeGrpc.ModelRuntimeBlockingStub client, String model) {
    long start = System.nanoTime();
    Struct params =
        Struct.newBuilder()
            .putFields("n", com.google.protobuf.Value.newBuilder().setNumberValue(3).build())
            .build();
    Iterator<GenerateResponse> items =
        client.generate(
            GenerateRequest.newBuilder()
                .setModel(model)
                .putInputs("text", text("java"))
                .setParameters(params)
                .build());
    while (items.hasNext()) {
      GenerateResponse item = items.next();
      if (item.hasError()) { // one item failed; the stream goes on
        System.out.printf("generate[%d] error: %s%n", item.getIndex(), item.getError().getReason());
        continue;
      }
      long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      System.out.printf(
          "generate[%d] at %dms: %s%n", item.getIndex(), ms, textOf(item.getStructured()));
    }
  }

  // stream sends one request, waits for its answer, then sends the next (lock-step).
  static void stream(ModelRuntimeGrpc.ModelRuntimeStub async, String model) throws Exception {
    LinkedBlockingQueue<Object> arrived = new LinkedBlockingQueue<>();
    Object end = new Object();
    StreamObserver<StreamRequest> requests =
        async
            .withDeadlineAfter(60, TimeUnit.SECONDS)
            .stream(
                new StreamObserver<StreamResponse>() {
                  @Override
                  public void onNext(StreamResponse reply) {
                    arrived.add(reply);
                  }

                  @Override
                  public void onError(Throwable t) {
                    arrived.add(t);
                  }

                  @Override
                  public void onCompleted() {
                    arrived.add(end);
                  }
                });
    for (String word : List.of("one", "two", "three")) {
      StreamRequest.Builder request = StreamRequest.newBuilder().putInputs("text", text(word));
      if (word.equals("one")) {
        request.setModel(model); // the first message names the model
      }
      requests.onNext(request.build());
      Object got = arrived.poll(60, TimeUnit.SECONDS);
      if (!(got instanceof StreamResponse)) {
        throw new IllegalStateException("stream: " + got);
      }
      StreamResponse reply = (StreamResponse) got;
      System.out.printf(
          "stream[%d]: %s -> %s%n", reply.getIndex(), word, textOf(reply.getStructured()));
    }
    requests.onCompleted();
    Object last = arrived.poll(60, TimeUnit.SECONDS);
    if (last != end) {
      throw new IllegalStateException("stream end: " + last);
    }
  }

  // failure calls a model that does not exist and decodes the ErrorInfo in the status details.
  static void failure(ModelRuntimeGrpc.ModelRuntimeBlockingStub client)
      throws InvalidProtocolBufferException {
    try {
      client.predict(
          PredictRequest.newBuilder().setModel("no-such-model").putInputs("text", text("x")).build());
    } catch (StatusRuntimeException err) {
      com.google.rpc.Status status = StatusProto.fromThrowable(err);
      if (status != null) {
        for (com.google.protobuf.Any detail : status.getDetailsList()) {
          if (detail.getTypeUrl().endsWith("/google.rpc.ErrorInfo")) {
            ErrorInfo info = ErrorInfo.parseFrom(detail.getValue());
            System.out.printf(
                "error: %s %s %s model=%s%n",
                err.getStatus().getCode(),
                info.getReason(),
                info.getDomain(),
                info.getMetadataOrDefault("model", ""));
            return;
          }
        }
      }
      throw new IllegalStateException("no ErrorInfo in " + err);
    }
    throw new IllegalStateException("expected a gRPC error");
  }
}
