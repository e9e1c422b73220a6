#!/usr/bin/env bash
# Sets up lambdad, starts the server on its embedded defaults (SQLite + blobs
# under .lambdad/, local sandboxes), deploys the sample function and prints
# commands to try. Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

port="${LAMBDAD_PORT:-9000}"
endpoint="http://127.0.0.1:${port}"
export AWS_EC2_METADATA_DISABLED=true
# Its own commands sign with the admin key the server writes into .lambdad/,
# not with whatever AWS keys this shell may hold.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_SHARED_CREDENTIALS_FILE

.venv/bin/lambdad server --port "$port" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM

for _ in $(seq 1 100); do
  if .venv/bin/lambdad ls --endpoint "$endpoint" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then echo "the server did not start" >&2; exit 1; fi
  sleep 0.1
done

sample=$(.venv/bin/python -c 'import lambdad, pathlib; print(pathlib.Path(lambdad.__file__).parent / "sample" / "hello")')
.venv/bin/lambdad deploy "$sample" --name hello --runtime python3.12 --handler app.handler --endpoint "$endpoint"

cat <<MSG

lambdad is running on ${endpoint} with the sample function "hello" deployed.
In another terminal, from this folder:

  .venv/bin/lambdad invoke hello --payload '{"name": "lambdad"}'
  .venv/bin/lambdad logs hello
  .venv/bin/lambdad ls

The server made an admin user on its first start; its key is in
.lambdad/credentials (an AWS credentials file), which the lambdad command
reads. With the AWS CLI (.venv/bin/pip install awscli installs it), the event
read from stdin and the result written to stdout:

  printf '{"name": "aws"}' | AWS_SHARED_CREDENTIALS_FILE=.lambdad/credentials \\
    AWS_EC2_METADATA_DISABLED=true .venv/bin/aws lambda invoke --region us-east-1 \\
    --endpoint-url ${endpoint} --function-name hello --payload fileb:///dev/stdin /dev/stdout

More users and keys: .venv/bin/lambdad users --help (README: "Users, keys and
authentication").

Ctrl-C stops the server.
MSG
wait "$server"
