// Calls a modelrt server from Node with @grpc/grpc-js, loading protos/ at run time with
// @grpc/proto-loader: health Check, Predict, Generate (each item printed as it arrives), a lock-step
// Stream, and the google.rpc.ErrorInfo of a failed call.
//
//   node clients/node/example.js 127.0.0.1:50051 echo
//
// clients/README.md shows how to install the packages (`make node-client`) and what this prints.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PROTOS = path.resolve(__dirname, '..', '..', 'protos');
const LOAD_OPTIONS = { longs: Number, enums: String, defaults: true, oneofs: true };

const modelrt = grpc.loadPackageDefinition(
  protoLoader.loadSync('modelrt/v1/runtime.proto', { ...LOAD_OPTIONS, includeDirs: [PROTOS] }),
).modelrt.v1;

// The parts of grpc.health.v1 and google.rpc this example uses, with their upstream field numbers.
const EXTRA = protobuf.parse(`
  syntax = "proto3";
  package grpc.health.v1;
  message HealthCheckRequest { string service = 1; }
  message HealthCheckResponse {
    enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
    ServingStatus status = 1;
  }
  service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
`).root;
const RPC = protobuf.parse(`
  syntax = "proto3";
  package google.rpc;
  message Detail { string type_url = 1; bytes value = 2; }  // google.protobuf.Any
  message Status { int32 code = 1; string message = 2; repeated Detail details = 3; }
  message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
`, { keepCase: true }).root;
const health = grpc.loadPackageDefinition(protoLoader.fromJSON(EXTRA.toJSON(), LOAD_OPTIONS)).grpc
  .health.v1;

const text = (s) => ({ text: s });

// A model's str, number, list or dict comes back as the `structured` JSON output (a
// google.protobuf.Value); arrays and bytes come back under `outputs`. This one returns {"text": ...}.
const textOf = (reply) => reply.structured.structValue.fields.text.stringValue;

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + 60000 }, (err, reply) =>
      err ? reject(err) : resolve(reply),
    );
  });
}

// check asks the standard health service: "" is the whole server, a model name is that model.
async function check(client, service) {
  const reply = await unary(client, 'Check', { service });
  console.log(`health ${JSON.stringify(service)}: ${reply.status}`);
}

async function predict(client, model) {
  const reply = await unary(client, 'Predict', { model, inputs: { text: text('hello from node') } });
  console.log(`predict: ${textOf(reply)}`);
}

// generate prints every item when it arrives, with the time since the call started.
function generate(client, model) {
  const start = Date.now();
  const call = client.Generate({
    model,
    inputs: { text: text('node') },
    parameters: { fields: { n: { numberValue: 3 } } },
  });
  return new Promise((resolve, reject) => {
    call.on('data', (item) => {
      if (item.error) {
        console.log(`generate[${item.index}] error: ${item.error.reason}`); // the stream goes on
      } else {
        console.log(`generate[${item.index}] at ${Date.now() - start}ms: ${textOf(item)}`);
      }
    });
    call.on('end', resolve);
    call.on('error', reject);
  });
}

// stream sends one request, waits for its answer, then sends the next (lock-step).
async function stream(client, model) {
  const call = client.Stream();
  const waiting = [];
  const arrived = [];
  let failure = null;
  const settle = () => {
    while (waiting.length && (arrived.length || failure)) {
      const { resolve, reject } = waiting.shift();
      if (arrived.length) resolve(arrived.shift());
      else reject(failure);
    }
  };
  call.on('data', (reply) => { arrived.push(reply); settle(); });
  call.on('error', (err) => { failure = err; settle(); });
  const ended = new Promise((resolve) => call.on('end', resolve));
  const next = () => new Promise((resolve, reject) => { waiting.push({ resolve, reject }); settle(); });
  for (const word of ['one', 'two', 'three']) {
    const request = { inputs: { text: text(word) } };
    if (word === 'one') request.model = model; // the first message names the model
    call.write(request);
    const reply = await next();
    console.log(`stream[${reply.index}]: ${word} -> ${textOf(reply)}`);
  }
  call.end();
  await ended;
}

// errorInfo decodes the google.rpc.Status in the grpc-status-details-bin trailer.
function errorInfo(err) {
  const [raw] = err.metadata.get('grpc-status-details-bin');
  if (!raw) return null;
  const status = RPC.lookupType('google.rpc.Status').decode(raw);
  const detail = status.details.find((d) => d.type_url.endsWith('/google.rpc.ErrorInfo'));
  return detail ? RPC.lookupType('google.rpc.ErrorInfo').decode(detail.value) : null;
}

async function failure(client) {
  try {
    await unary(client, 'Predict', { model: 'no-such-model', inputs: { text: text('x') } });
  } catch (err) {
    const info = errorInfo(err);
    if (!info) throw new Error(`no ErrorInfo in ${err}`);
    const code = Object.keys(grpc.status).find((name) => grpc.status[name] === err.code);
    console.log(`error: ${code} ${info.reason} ${info.domain} model=${info.metadata.model}`);
    return;
  }
  throw new Error('expected a gRPC error');
}

async function main() {
  const [address = '127.0.0.1:50051', model = 'echo'] = process.argv.slice(2);
  const credentials = grpc.credentials.createInsecure(); // createSsl() for TLS
  const client = new modelrt.ModelRuntime(address, credentials);
  const healthClient = new health.Health(address, credentials);
  try {
    await check(healthClient, '');
    await check(healthClient, model);
    await predict(client, model);
    await generate(client, model);
    await stream(client, model);
    await failure(client);
  } finally {
    client.close();
    healthClient.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
