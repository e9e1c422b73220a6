// Sign-in: an access key id and secret (a lambdad user's key; the admin's is in
// the server's .lambdad/credentials) and the region to work in. The key is
// checked with one signed request before it is kept.

import { Api, ApiError } from "../api.js";
import { saveSession } from "../session.js";
import { describeError, field, fill, h, notice } from "../ui.js";

export function renderSignIn(app, serverSettings, signedIn) {
  const keyId = h("input", { id: "access-key-id", autocomplete: "username", required: true, spellcheck: "false" });
  const secret = h("input", { id: "secret-access-key", type: "password", autocomplete: "current-password", required: true });
  const region = h("input", { id: "region", value: serverSettings.region, required: true, spellcheck: "false" });
  const status = h("div", { class: "status" });
  const submit = h("button", { type: "submit", class: "primary", id: "sign-in" }, "Sign in");
  const form = h("form", { class: "card signin", onsubmit: async (event) => {
    event.preventDefault();
    const session = {
      accessKeyId: keyId.value.trim(),
      secretAccessKey: secret.value.trim(),
      region: region.value.trim(),
    };
    submit.disabled = true;
    fill(status, notice("info", "Checking the key…"));
    try {
      // Any signed call proves the key; ListFunctions is what the first page needs anyway.
      await new Api(session).lambda("GET", "/2015-03-31/functions/", { query: [["MaxItems", "1"]] });
      saveSession(session);
      signedIn();
    } catch (error) {
      const refused = error instanceof ApiError && error.status === 403;
      fill(status, notice("error", refused ? `The server refused this key: ${describeError(error)}` : describeError(error)));
    } finally {
      submit.disabled = false;
    }
  } },
    h("h1", {}, "Sign in to lambdad"),
    h("p", { class: "muted" }, "Use a lambdad user's access key. The server wrote the admin's key to .lambdad/credentials on its first start. The key stays in this tab (session storage) and only signs requests; it is never sent."),
    field("Access key id", keyId),
    field("Secret access key", secret),
    field("Region", region, "Functions, logs and ARNs are per region, as on AWS."),
    submit,
    status);
  fill(app, form);
  keyId.focus();
}
