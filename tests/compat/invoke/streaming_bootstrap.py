"""A provided.al2023 runtime, written from the Runtime API docs alone, that streams.

Stdlib python3 only. The event's "action" picks what it does; every response
is POSTed in the streaming mode (chunked, `Lambda-Runtime-Function-Response-Mode:
streaming`) but "buffered", which posts an ordinary response.
"""

BOOTSTRAP = r"""#!/usr/bin/env python3
import base64
import http.client
import json
import os
import select
import socket
import sys

HOST, _, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
API = "/2018-06-01/runtime"


def connect():
    return http.client.HTTPConnection(HOST, int(PORT))


def chunk(conn, data):
    conn.send(b"%x\r\n%s\r\n" % (len(data), data))


def start_stream(request_id, content_type):
    conn = connect()
    conn.putrequest("POST", API + "/invocation/" + request_id + "/response")
    conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Content-Type", content_type)
    conn.putheader(
        "Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
    )
    conn.endheaders()
    return conn


def wait_for_go(port):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        got = b""
        while not got.endswith(b"go"):
            data = sock.recv(16)
            if not data:
                break
            got += data


def handle(request_id, event):
    action = event.get("action", "chunks")
    if action == "buffered":
        conn = connect()
        conn.request("POST", API + "/invocation/" + request_id + "/response",
                     json.dumps({"buffered": True}).encode())
        return conn
    conn = start_stream(request_id, event.get("content_type", "text/plain"))
    if action == "signal":
        chunk(conn, b"first|")
        wait_for_go(event["port"])
        chunk(conn, b"second")
        conn.send(b"0\r\n\r\n")
    elif action == "chunks":
        print("streaming", len(event.get("parts", [])), "parts", flush=True)
        for part in event.get("parts", []):
            chunk(conn, part.encode())
        conn.send(b"0\r\n\r\n")
    elif action == "fail":
        chunk(conn, b"partial")
        error = {"errorType": "RuntimeError", "errorMessage": "boom mid-stream"}
        body = base64.b64encode(json.dumps(error).encode())
        conn.send(b"0\r\nLambda-Runtime-Function-Error-Type: RuntimeError\r\n"
                  b"Lambda-Runtime-Function-Error-Body: " + body + b"\r\n\r\n")
    elif action == "big":
        piece = b"x" * 65536
        left = event["size"]
        try:
            while left > 0:
                chunk(conn, piece[:left])
                left -= len(piece)
            conn.send(b"0\r\n\r\n")
        except OSError:  # Lambda cut the stream at its limit
            return None
    elif action == "hang":  # a chunk, then never another: the timeout ends it
        chunk(conn, b"started|")
        select.select([], [], [])  # blocks for good
    elif action == "malformed":
        chunk(conn, b"before the bad chunk|")
        conn.send(b"zz-not-hex\r\nrest\r\n")
    return conn


while True:
    next_conn = connect()
    next_conn.request("GET", API + "/invocation/next")
    answer = next_conn.getresponse()
    request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")
    event = json.loads(answer.read())
    conn = handle(request_id, event)
    if conn is not None:
        try:
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            pass
        conn.close()
"""
