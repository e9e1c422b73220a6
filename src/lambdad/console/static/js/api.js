// The console's client of the server's APIs: every request signed with the
// signed-in user's key (sigv4.js), errors turned into ApiError with AWS's name.

import { signRequest, uriEncode } from "./sigv4.js";

export class ApiError extends Error {
  constructor(name, message, status) {
    super(message || name);
    this.name = name;
    this.status = status;
  }
}

const decoder = new TextDecoder();

/** The path segment for a function name or ARN. */
export function seg(value) {
  return uriEncode(String(value));
}

function errorOf(status, headers, text) {
  let name = (headers.get("x-amzn-errortype") || "").split(":")[0];
  let message = "";
  try {
    const body = JSON.parse(text);
    name = name || (body.__type || body.Type || body.code || "").split("#").pop();
    message = body.message || body.Message || "";
  } catch {
    message = text.slice(0, 300);
  }
  return new ApiError(name || `HTTP ${status}`, message || `HTTP ${status}`, status);
}

export class Api {
  /** session: { accessKeyId, secretAccessKey, sessionToken?, region } */
  constructor(session) {
    this.session = session;
  }

  /**
   * One signed request. Returns { status, headers, bytes }. Throws ApiError on 4xx/5xx.
   * query: [[name, value], …] (raw values); body: string | Uint8Array.
   */
  async send({ service = "lambda", method = "GET", path, query = [], headers = {}, body }) {
    const signed = await signRequest({
      method,
      host: location.host,
      path,
      query,
      headers,
      body,
      region: this.session.region,
      service,
      accessKeyId: this.session.accessKeyId,
      secretAccessKey: this.session.secretAccessKey,
      sessionToken: this.session.sessionToken,
    });
    const qs = query.map(([k, v]) => `${uriEncode(String(k))}=${uriEncode(String(v))}`).join("&");
    const response = await fetch(qs ? `${path}?${qs}` : path, {
      method,
      headers: signed,
      body: method === "GET" || method === "HEAD" ? undefined : body,
      credentials: "omit",
      cache: "no-store",
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (response.status >= 400) {
      throw errorOf(response.status, response.headers, decoder.decode(bytes));
    }
    return { status: response.status, headers: response.headers, bytes };
  }

  /** A REST call of the Lambda API with a JSON body (or none); the parsed answer. */
  async lambda(method, path, { query = [], body, headers = {} } = {}) {
    const sent = body === undefined ? undefined : JSON.stringify(body);
    const all = sent === undefined ? headers : { "Content-Type": "application/json", ...headers };
    const response = await this.send({ method, path, query, headers: all, body: sent });
    const text = decoder.decode(response.bytes);
    return text ? JSON.parse(text) : {};
  }

  /** A call of an AWS JSON-protocol API (events: AWSEvents, logs: Logs_20140328, …). */
  async rpc(service, target, body = {}, version = "1.1") {
    const response = await this.send({
      service,
      method: "POST",
      path: "/",
      headers: { "Content-Type": `application/x-amz-json-${version}`, "X-Amz-Target": target },
      body: JSON.stringify(body),
    });
    const text = decoder.decode(response.bytes);
    return text ? JSON.parse(text) : {};
  }

  /** Follows a paged Lambda list (Marker/NextMarker) to the end, up to `limit` pages. */
  async listAll(path, key, query = [], limit = 50) {
    const items = [];
    let marker = null;
    for (let page = 0; page < limit; page++) {
      const q = marker ? [...query, ["Marker", marker]] : query;
      const answer = await this.lambda("GET", path, { query: q });
      items.push(...(answer[key] || []));
      marker = answer.NextMarker;
      if (!marker) break;
    }
    return items;
  }
}

/** Whether an error is AWS's "not found" (an optional resource that is absent). */
export function isNotFound(error) {
  return error instanceof ApiError && error.status === 404;
}
