// lambdad's Node.js runtime: AWS's handler semantics over the Lambda Runtime API.
//
// Standalone plain Node (no npm deps, nothing from lambdad). Behaves like AWS's
// nodejs runtime: "dir/file.fn" handlers from .js/.cjs/.mjs, async and callback
// handlers, the context object, AWS's error JSON {errorType, errorMessage, trace}
// and the Runtime.* init errors, console output as "<time>\t<request id>\tINFO\t<msg>".
// Response streaming as AWS's runtime has it: the globals awslambda.streamifyResponse
// and awslambda.HttpResponseStream; a streaming handler's response goes to the
// Runtime API in its streaming mode (chunked, errors as trailers).

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import util from "node:util";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const API = "/2018-06-01/runtime";
const [HOST, PORT] = (() => {
  const addr = process.env.AWS_LAMBDA_RUNTIME_API || "127.0.0.1:9001";
  const i = addr.lastIndexOf(":");
  return [addr.slice(0, i), Number(addr.slice(i + 1))];
})();
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
    const req = http.request(
      {
        host: HOST,
        port: PORT,
        method,
        path: API + urlPath,
        agent,
        headers: data ? { ...headers, "Content-Length": data.length } : headers,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

// ---- response streaming ----------------------------------------------------------------------

const STREAMING = Symbol.for("aws.lambda.runtime.handler.streaming");
const HIGH_WATER_MARK = Symbol.for("aws.lambda.runtime.handler.streaming.highWaterMark");
const HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response";
const ERROR_TYPE_TRAILER = "Lambda-Runtime-Function-Error-Type";
const ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body";

// The metadata prelude of a function URL's streamed response: JSON, then 8 NUL bytes.
class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(HTTP_INTEGRATION);
    // JSON.stringify never yields a NUL byte, so the delimiter can't occur in it.
    underlyingStream.write(JSON.stringify(prelude));
    underlyingStream.write(new Uint8Array(8));
    return underlyingStream;
  }
}

globalThis.awslambda = {
  ...(globalThis.awslambda || {}),
  streamifyResponse: (handler, options) => {
    handler[STREAMING] = "response";
    if (options && typeof options.highWaterMark === "number") handler[HIGH_WATER_MARK] = options.highWaterMark;
    return handler;
  },
  HttpResponseStream,
};

// The response stream a streaming handler writes to: a chunked POST of
// /invocation/{id}/response in the streaming mode (a Writable with back-pressure).
function createResponseStream(requestId, highWaterMark) {
  let resolveDone;
  let rejectDone;
  const done = new Promise((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  const req = http.request({
    host: HOST,
    port: PORT,
    method: "POST",
    path: `${API}/invocation/${requestId}/response`,
    agent,
    highWaterMark,
    headers: {
      "Content-Type": "application/octet-stream",
      "Lambda-Runtime-Function-Response-Mode": "streaming",
      "Transfer-Encoding": "chunked",
      Trailer: `${ERROR_TYPE_TRAILER}, ${ERROR_BODY_TRAILER}`,
    },
  });
  req.on("response", (res) => {
    res.resume();
    res.on("end", () => resolveDone(res.statusCode));
    res.on("error", rejectDone);
  });
  req.on("error", rejectDone);
  let written = false;
  const write = req.write.bind(req);
  req.write = (chunk, ...rest) => {
    written = true;
    return write(chunk, ...rest);
  };
  req.setContentType = (contentType) => {
    if (written || req.headersSent) throw new Error("Tried to set the content type after the response stream started");
    req.setHeader("Content-Type", contentType);
  };
  // Ends the stream with the function's error in the trailers, as the Runtime API wants it.
  const fail = (body) => {
    if (req.writableEnded) return;
    req.addTrailers({
      [ERROR_TYPE_TRAILER]: body.errorType,
      [ERROR_BODY_TRAILER]: Buffer.from(JSON.stringify(body)).toString("base64"),
    });
    req.end();
  };
  return { stream: req, done, fail };
}

async function runStreamingHandler(handler, event, headers, requestId) {
  const { stream, done, fail } = createResponseStream(requestId, handler[HIGH_WATER_MARK]);
  const context = makeContext(headers, { resolve: () => {}, reject: () => {} });
  try {
    await handler(event, stream, context);
    if (!stream.writableEnded) stream.end();
  } catch (err) {
    const body = errorJson(err);
    console.error(`Invoke Error \t${JSON.stringify(body)}`);
    fail(body);
  }
  try {
    await done;
  } catch {
    // Lambda cut the stream (past its size limit, say): the invocation is over.
  }
}

class FaultError extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

function errorJson(err) {
  if (err instanceof Error) {
    const trace = typeof err.stack === "string" ? err.stack.split("\n") : [];
    return { errorType: err.name || "Error", errorMessage: err.message, trace };
  }
  // A thrown/rejected non-Error value, as AWS reports it.
  let message;
  try {
    message = typeof err === "string" ? err : JSON.stringify(err);
  } catch {
    message = String(err);
  }
  return { errorType: typeof err === "string" ? "string" : "object", errorMessage: message, trace: [] };
}

// ---- logging ----------------------------------------------------------------------------------

let currentRequestId = "";
const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

// AWS's JSON record of a console call: the message as given (util.format'ed when
// there are several arguments), an Error's errorType/errorMessage/stackTrace.
function jsonLine(level, args) {
  const record = { timestamp: new Date().toISOString(), level, requestId: currentRequestId || undefined };
  const describe = (err) => {
    record.errorType = err?.constructor?.name ?? "UnknownError";
    record.errorMessage = err.message;
    record.stackTrace = typeof err.stack === "string" ? err.stack.split("\n") : [];
  };
  if (args.length === 1 && args[0] instanceof Error) {
    describe(args[0]);
  } else {
    record.message = args.length === 1 ? args[0] : util.format(...args);
    const err = args.find((arg) => arg instanceof Error);
    if (args.length > 1 && err) describe(err);
  }
  try {
    return JSON.stringify(record, (_key, value) => (typeof value === "bigint" ? String(value) : value));
  } catch {
    record.message = util.format(...args);
    return JSON.stringify(record);
  }
}

// Lambda's console: text lines "<time>\t<request id>\t<LEVEL>\t<message>", or with
// LogFormat JSON (AWS_LAMBDA_LOG_FORMAT) JSON records, and below AWS_LAMBDA_LOG_LEVEL nothing.
function patchConsole() {
  const json = process.env.AWS_LAMBDA_LOG_FORMAT === "JSON";
  const least = LEVELS.indexOf((process.env.AWS_LAMBDA_LOG_LEVEL || "").toUpperCase());
  const write = (level, stream) => {
    if (json && least > 0 && LEVELS.indexOf(level) < least) return () => {};
    return (...args) => {
      if (json) {
        stream.write(jsonLine(level, args) + "\n");
        return;
      }
      const line = `${new Date().toISOString()}\t${currentRequestId || "undefined"}\t${level}\t${util.format(...args)}`;
      stream.write(line.replace(/\n/g, "\r") + "\n");
    };
  };
  console.log = write("INFO", process.stdout);
  console.info = write("INFO", process.stdout);
  console.debug = write("DEBUG", process.stdout);
  console.trace = write("TRACE", process.stdout);
  console.warn = write("WARN", process.stderr);
  console.error = write("ERROR", process.stderr);
  console.fatal = write("FATAL", process.stderr);
}

// ---- handler loading ------------------------------------------------------------------------

async function loadHandler(taskRoot, handlerString) {
  const base = path.basename(handlerString);
  const dot = base.indexOf(".");
  if (dot < 0) {
    throw new FaultError("Runtime.MalformedHandlerName", `Bad handler ${handlerString}`);
  }
  const moduleRel = path.join(path.dirname(handlerString), base.slice(0, dot));
  const handlerPath = base.slice(dot + 1);
  const moduleBase = path.resolve(taskRoot, moduleRel);

  let mod;
  let file = [".js", ".mjs", ".cjs"].map((ext) => moduleBase + ext).find((f) => fs.existsSync(f));
  try {
    if (!file) {
      const req = createRequire(path.join(taskRoot, "index.js"));
      mod = req(moduleBase); // a directory module or a node_modules name; throws MODULE_NOT_FOUND
    } else if (file.endsWith(".mjs")) {
      mod = await import(pathToFileURL(file).href);
    } else {
      try {
        mod = createRequire(file)(file);
      } catch (err) {
        if (err && err.code === "ERR_REQUIRE_ESM") mod = await import(pathToFileURL(file).href);
        else throw err;
      }
    }
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw new FaultError("Runtime.UserCodeSyntaxError", `${err.name}: ${err.message}`);
    }
    if (err && (err.code === "MODULE_NOT_FOUND" || err.code === "ERR_MODULE_NOT_FOUND")) {
      throw new FaultError("Runtime.ImportModuleError", `Error: Cannot find module '${moduleRel}'`);
    }
    throw err;
  }
  let fn = mod;
  for (const part of handlerPath.split(".")) {
    fn = fn == null ? undefined : fn[part];
  }
  if (fn === undefined && mod && mod.default) {
    fn = handlerPath.split(".").reduce((o, p) => (o == null ? undefined : o[p]), mod.default);
  }
  if (typeof fn !== "function") {
    throw new FaultError("Runtime.HandlerNotFound", `${moduleRel}.${handlerPath} is undefined or not exported`);
  }
  return fn;
}

// ---- context ----------------------------------------------------------------------------------

function parseJsonHeader(value) {
  if (!value) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function makeContext(headers, callbacks) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] || 0);
  const env = process.env;
  const identity = parseJsonHeader(headers["lambda-runtime-cognito-identity"]);
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJsonHeader(headers["lambda-runtime-client-context"]),
    identity: identity
      ? { cognitoIdentityId: identity.cognitoIdentityId, cognitoIdentityPoolId: identity.cognitoIdentityPoolId }
      : undefined,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    // Legacy completion methods.
    succeed: (result) => callbacks.resolve(result),
    fail: (err) => callbacks.reject(err),
    done: (err, result) => (err ? callbacks.reject(err) : callbacks.resolve(result)),
  };
}

// ---- loop -------------------------------------------------------------------------------------

function runHandler(handler, event, headers) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const once = (fn) => (v) => {
      if (!settled) {
        settled = true;
        fn(v);
      }
    };
    const callbacks = { resolve: once(resolve), reject: once(reject) };
    const context = makeContext(headers, callbacks);
    const callback = (err, result) => (err ? callbacks.reject(err) : callbacks.resolve(result));
    let ret;
    try {
      ret = handler.length >= 3 ? handler(event, context, callback) : handler(event, context);
    } catch (err) {
      callbacks.reject(err);
      return;
    }
    if (ret && typeof ret.then === "function") {
      ret.then(callbacks.resolve, callbacks.reject);
    } else if (handler.length < 3) {
      callbacks.resolve(ret);
    }
  });
}

async function main() {
  patchConsole();
  const taskRoot = process.env.LAMBDA_TASK_ROOT || "/var/task";
  let handler;
  try {
    handler = await loadHandler(taskRoot, process.env._HANDLER || "");
  } catch (err) {
    const body = errorJson(err);
    console.error(`${body.errorType}: ${body.errorMessage}`);
    await request("POST", "/init/error", JSON.stringify(body), {
      "Content-Type": "application/json",
      "Lambda-Runtime-Function-Error-Type": body.errorType,
    });
    process.exit(1);
  }
  for (;;) {
    const next = await request("GET", "/invocation/next");
    const requestId = next.headers["lambda-runtime-aws-request-id"];
    currentRequestId = requestId;
    if (next.headers["lambda-runtime-trace-id"]) {
      process.env._X_AMZN_TRACE_ID = next.headers["lambda-runtime-trace-id"];
    } else {
      delete process.env._X_AMZN_TRACE_ID;
    }
    let event;
    try {
      event = next.body.length ? JSON.parse(next.body.toString("utf8")) : {};
    } catch (err) {
      event = undefined;
      const body = { errorType: "Runtime.UnmarshalError", errorMessage: `Unable to parse event: ${err.message}`, trace: [] };
      await postError(requestId, body);
      continue;
    }
    if (handler[STREAMING] === "response") {
      await runStreamingHandler(handler, event, next.headers, requestId);
      continue;
    }
    try {
      const result = await runHandler(handler, event, next.headers);
      const data = JSON.stringify(result === undefined ? null : result);
      await request("POST", `/invocation/${requestId}/response`, data, { "Content-Type": "application/json" });
    } catch (err) {
      const body = errorJson(err);
      console.error(`Invoke Error \t${JSON.stringify(body)}`);
      await postError(requestId, body);
    }
  }
}

function postError(requestId, body) {
  return request("POST", `/invocation/${requestId}/error`, JSON.stringify(body), {
    "Content-Type": "application/json",
    "Lambda-Runtime-Function-Error-Type": body.errorType,
  });
}

process.on("uncaughtException", (err) => {
  console.error(`Uncaught Exception \t${JSON.stringify(errorJson(err))}`);
  process.exit(129);
});

main();
