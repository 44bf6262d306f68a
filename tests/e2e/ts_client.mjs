// An independent MCP client for tests/e2e/test_ts_sdk.py: the TypeScript SDK v1
// (@modelcontextprotocol/sdk) or v2 (@modelcontextprotocol/client) from build/node, over stdio
// (a command) or Streamable HTTP (a URL), in the legacy handshake or auto negotiation (v2).
// usage: node ts_client.mjs v1|v2 legacy|auto stdio CMD ARGS... | http URL
// Lists and calls tools, counts progress, cancels a slow call, subscribes (legacy), answers
// an elicitation and a sampling request; prints one JSON line with what it saw.
import { createRequire } from "node:module";

// The packages live in build/node (NODE_DIR), not beside this file.
const require = createRequire(`${process.env.NODE_DIR}/package.json`);
const [sdk, mode, kind, ...target] = process.argv.slice(2);
const out = { sdk, mode };

let Client, Stdio, Http, ElicitSchema, SampleSchema;
if (sdk === "v1") {
  ({ Client } = require("@modelcontextprotocol/sdk/client/index.js"));
  ({ StdioClientTransport: Stdio } = require("@modelcontextprotocol/sdk/client/stdio.js"));
  ({ StreamableHTTPClientTransport: Http } = require("@modelcontextprotocol/sdk/client/streamableHttp.js"));
  ({ ElicitRequestSchema: ElicitSchema, CreateMessageRequestSchema: SampleSchema } = require("@modelcontextprotocol/sdk/types.js"));
} else {
  ({ Client, StreamableHTTPClientTransport: Http } = require("@modelcontextprotocol/client"));
  ({ StdioClientTransport: Stdio } = require("@modelcontextprotocol/client/stdio"));
}

const options = { capabilities: { elicitation: {}, sampling: {} } };
if (sdk === "v2" && mode === "auto") options.versionNegotiation = { mode: "auto" };
const client = new Client({ name: `ts-${sdk}`, version: "1.0.0" }, options);
const onElicit = async () => ({ action: "accept", content: { name: "Tess" } });
const onSample = async () => ({ role: "assistant", content: { type: "text", text: "hi Tess" }, model: "m", stopReason: "endTurn" });
if (sdk === "v1") {
  client.setRequestHandler(ElicitSchema, onElicit);
  client.setRequestHandler(SampleSchema, onSample);
} else {
  client.setRequestHandler("elicitation/create", onElicit);
  client.setRequestHandler("sampling/createMessage", onSample);
}
const transport = kind === "stdio"
  ? new Stdio({ command: target[0], args: target.slice(1), env: process.env, stderr: "ignore" })
  : new Http(new URL(target[0]));

const text = (r) => (r.content || []).filter((c) => c.type === "text").map((c) => c.text).join("");
try {
  await client.connect(transport);
  out.version = client.getNegotiatedProtocolVersion ? client.getNegotiatedProtocolVersion() : undefined;
  const tools = (await client.listTools()).tools.map((t) => t.name);
  out.tools = tools;
  const prefix = tools.includes("echo") ? "" : tools.find((t) => t.endsWith(".echo")).slice(0, -4);
  out.echo = text(await client.callTool({ name: prefix + "echo", arguments: { text: "from ts" } }));
  const progress = [];
  // v1: callTool(params, resultSchema, options); v2: callTool(params, options)
  const call = (params, opts) => sdk === "v1" ? client.callTool(params, undefined, opts) : client.callTool(params, opts);
  const slow = await call({ name: prefix + "slow", arguments: { seconds: 0.3, steps: 3 } },
    { onprogress: (p) => progress.push(p.progress) });
  out.slow = slow.structuredContent;
  out.progress = progress;
  const ac = new AbortController();
  const cancelled = call({ name: prefix + "slow", arguments: { seconds: 20, steps: 1 } }, { signal: ac.signal })
    .then(() => "finished", () => "rejected");
  setTimeout(() => ac.abort("test"), 300);
  out.cancelled = await cancelled;
  out.after_cancel = text(await client.callTool({ name: prefix + "echo", arguments: { text: "still here" } }));
  if (mode === "legacy") {
    const uri = prefix ? `edgemcp://${prefix.slice(0, -1)}/device://log` : "device://log";
    await client.subscribeResource({ uri });
    out.subscribed = true;
  }
  out.greet = text(await client.callTool({ name: prefix + "greet", arguments: {} }));
} catch (e) {
  out.error = String(e && e.stack || e);
} finally {
  try { await client.close(); } catch (e) { /* gone already */ }
}
console.log(JSON.stringify(out));
process.exit(0);
