// AWS Signature Version 4 for the console's requests, as botocore signs them
// (tests/unit/console/test_signer.py holds it to botocore's signature).

import { hmacSha256, sha256 } from "./sha256.js";

const encoder = new TextEncoder();

/** Hex of bytes. */
export function hex(bytes) {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function toBytes(data) {
  if (data === undefined || data === null) return new Uint8Array(0);
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError("body must be a string, Uint8Array or ArrayBuffer");
}

/** Whether this page may use WebCrypto (secure contexts only: https, localhost). */
export function hasWebCrypto() {
  return Boolean(globalThis.crypto && globalThis.crypto.subtle);
}

async function digest(bytes, useWebCrypto) {
  if (useWebCrypto) return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return sha256(bytes);
}

async function hmac(key, message, useWebCrypto) {
  const data = toBytes(message);
  if (!useWebCrypto) return hmacSha256(key, data);
  const cryptoKey = await crypto.subtle.importKey(
    "raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, data));
}

/** RFC 3986 encoding, as botocore's quote(safe="-_.~") does it. */
export function uriEncode(value, keepSlash = false) {
  const encoded = encodeURIComponent(value).replace(
    /[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return keepSlash ? encoded.replace(/%2F/g, "/") : encoded;
}

/** `[[name, value], …]` as a query string, encoded and sorted as SigV4 wants it. */
export function canonicalQuery(query) {
  return query
    .map(([k, v]) => [uriEncode(String(k)), uriEncode(String(v))])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

function amzDate(date) {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * Sign a request. `path` is the path as sent (its segments already encoded),
 * `query` a list of [name, value] pairs (raw), `headers` an object of headers to
 * send and sign (host is added). Returns the headers to send, with
 * Authorization, X-Amz-Date, X-Amz-Content-Sha256 (and the session token).
 *
 * options: { method, host, path, query, headers, body, region, service,
 *            accessKeyId, secretAccessKey, sessionToken, date, webCrypto }
 */
export async function signRequest(options) {
  const useWebCrypto = options.webCrypto ?? hasWebCrypto();
  const date = options.date ?? new Date();
  const stamp = amzDate(date);
  const day = stamp.slice(0, 8);
  const body = toBytes(options.body);
  const payloadHash = hex(await digest(body, useWebCrypto));
  const headers = { ...(options.headers || {}) };
  headers["X-Amz-Date"] = stamp;
  headers["X-Amz-Content-Sha256"] = payloadHash;
  if (options.sessionToken) headers["X-Amz-Security-Token"] = options.sessionToken;
  const signed = { host: options.host };
  for (const [name, value] of Object.entries(headers)) {
    signed[name.toLowerCase()] = String(value).trim().replace(/\s+/g, " ");
  }
  const names = Object.keys(signed).sort();
  const canonicalHeaders = names.map((n) => `${n}:${signed[n]}\n`).join("");
  const signedHeaders = names.join(";");
  // botocore encodes the (already encoded) path once more for every service but S3.
  const canonicalPath = uriEncode(options.path || "/", true);
  const canonical = [
    options.method.toUpperCase(),
    canonicalPath,
    canonicalQuery(options.query || []),
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join("\n");
  const scope = `${day}/${options.region}/${options.service}/aws4_request`;
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    stamp,
    scope,
    hex(await digest(encoder.encode(canonical), useWebCrypto)),
  ].join("\n");
  let key = encoder.encode(`AWS4${options.secretAccessKey}`);
  for (const part of [day, options.region, options.service, "aws4_request"]) {
    key = await hmac(key, part, useWebCrypto);
  }
  const signature = hex(await hmac(key, stringToSign, useWebCrypto));
  headers.Authorization =
    `AWS4-HMAC-SHA256 Credential=${options.accessKeyId}/${scope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
