// Creating a function from the console: a name, a runtime, a role and starter code
// (the handler file AWS's console starts a function with), zipped in the browser.

import { seg } from "../api.js";
import { writeZip } from "../zip.js";
import { busy, field, fill, h, notice, toBase64 } from "../ui.js";
import { waitUpdated } from "./common.js";

const STARTERS = {
  python: {
    file: "lambda_function.py",
    handler: "lambda_function.lambda_handler",
    code: 'import json\n\n\ndef lambda_handler(event, context):\n    print("event:", json.dumps(event))\n    return {"statusCode": 200, "body": json.dumps("Hello from lambdad!")}\n',
  },
  nodejs: {
    file: "index.mjs",
    handler: "index.handler",
    code: 'export const handler = async (event) => {\n  console.log("event:", JSON.stringify(event));\n  return { statusCode: 200, body: JSON.stringify("Hello from lambdad!") };\n};\n',
  },
};
const RUNTIMES = ["python3.13", "python3.12", "python3.11", "nodejs22.x", "nodejs20.x"];

/** A card with the create form; `accountId` names the default role's account. */
export function createFunctionCard(api, accountId) {
  const name = h("input", { id: "new-function-name", placeholder: "my-function", spellcheck: "false", required: true });
  const runtime = h("select", { id: "new-function-runtime" }, RUNTIMES.map((r) => h("option", { value: r }, r)));
  const role = h("input", { id: "new-function-role", value: `arn:aws:iam::${accountId}:role/lambda-role`, spellcheck: "false" });
  const status = h("div", { class: "status", id: "create-status" });
  const create = h("button", { class: "primary", id: "create-function" }, "Create function");
  create.addEventListener("click", () => busy(create, status, async () => {
    const family = runtime.value.startsWith("python") ? "python" : "nodejs";
    const starter = STARTERS[family];
    const zip = await writeZip([{ name: starter.file, data: starter.code }]);
    fill(status, notice("info", "Creating…"));
    await api.lambda("POST", "/2015-03-31/functions", {
      body: {
        FunctionName: name.value.trim(),
        Runtime: runtime.value,
        Role: role.value.trim(),
        Handler: starter.handler,
        Code: { ZipFile: toBase64(zip) },
      },
    });
    await waitUpdated(api, name.value.trim());
    location.hash = `#/functions/${seg(name.value.trim())}/code`;
  }));
  return h("div", { class: "card", id: "create-card" },
    h("h2", {}, "Create a function"),
    h("div", { class: "columns tight" }, field("Name", name), field("Runtime", runtime)),
    field("Execution role", role, "The role the function's code gets credentials for."),
    h("p", { class: "muted" }, "It starts with a hello-world handler you can edit in the Code tab."),
    create,
    status);
}
