// The Versions and aliases tab: published versions (PublishVersion), aliases
// (CreateAlias / UpdateAlias / DeleteAlias) with an optional weighted second version.

import { seg } from "../api.js";
import { busy, field, fill, formatTime, h, notice, table } from "../ui.js";

export async function renderVersions(panel, api, fn, { current }) {
  const name = fn.Configuration.FunctionName;
  const base = `/2015-03-31/functions/${seg(name)}`;
  const [versions, aliases] = await Promise.all([
    api.listAll(`${base}/versions`, "Versions"),
    api.listAll(`${base}/aliases`, "Aliases"),
  ]);
  if (!current()) return;
  const published = versions.filter((v) => v.Version !== "$LATEST");
  const status = h("div", { class: "status", id: "versions-status" });
  const rerender = () => renderVersions(panel, api, fn, { current });

  const publishDescription = h("input", { id: "publish-description", placeholder: "description (optional)" });
  const publish = h("button", { id: "publish-version" }, "Publish new version");
  publish.addEventListener("click", () => busy(publish, status, async () => {
    const answer = await api.lambda("POST", `${base}/versions`, { body: { Description: publishDescription.value } });
    await rerender();
    fill(panel.querySelector("#versions-status"), notice("ok", `Published version ${answer.Version}.`));
  }));

  const versionChoices = () => ["$LATEST", ...published.map((v) => v.Version)].map((v) => h("option", { value: v }, v));
  const aliasName = h("input", { id: "alias-name", placeholder: "live", spellcheck: "false" });
  const aliasVersion = h("select", { id: "alias-version" }, versionChoices());
  if (published.length) aliasVersion.value = published[published.length - 1].Version;
  const aliasDescription = h("input", { id: "alias-description" });
  const extraVersion = h("select", { id: "alias-extra-version" }, h("option", { value: "" }, "none"), published.map((v) => h("option", { value: v.Version }, v.Version)));
  const extraWeight = h("input", { id: "alias-extra-weight", type: "number", min: 0, max: 1, step: 0.01, value: 0.1 });
  const create = h("button", { class: "primary", id: "create-alias" }, "Create alias");
  create.addEventListener("click", () => busy(create, status, async () => {
    const body = { Name: aliasName.value.trim(), FunctionVersion: aliasVersion.value, Description: aliasDescription.value };
    if (extraVersion.value) {
      body.RoutingConfig = { AdditionalVersionWeights: { [extraVersion.value]: Number(extraWeight.value) } };
    }
    await api.lambda("POST", `${base}/aliases`, { body });
    await rerender();
    fill(panel.querySelector("#versions-status"), notice("ok", `Alias ${body.Name} created.`));
  }));

  const deleteAlias = (alias) => h("button", { class: "link danger", onclick: async (event) => {
    if (!confirm(`Delete alias ${alias.Name}?`)) return;
    await busy(event.target, status, async () => {
      await api.lambda("DELETE", `${base}/aliases/${seg(alias.Name)}`);
      await rerender();
    });
  } }, "Delete");
  const weights = (alias) => Object.entries((alias.RoutingConfig || {}).AdditionalVersionWeights || {})
    .map(([v, w]) => `${v}: ${(w * 100).toFixed(0)}%`).join(", ");

  fill(panel,
    status,
    h("div", { class: "columns" },
      h("div", { class: "card" },
        h("h2", {}, "Versions"),
        h("div", { class: "toolbar" }, publishDescription, publish),
        table([
          { title: "Version", cell: (v) => v.Version },
          { title: "Description", cell: (v) => v.Description || "" },
          { title: "Code SHA-256", cell: (v) => h("span", { class: "mono small" }, (v.CodeSha256 || "").slice(0, 12)) },
          { title: "Last modified", cell: (v) => formatTime(v.LastModified) },
        ], versions.slice().reverse())),
      h("div", { class: "card" },
        h("h2", {}, "Aliases"),
        h("div", { id: "alias-table" }, table([
          { title: "Alias", cell: (a) => h("span", { class: "alias-name" }, a.Name) },
          { title: "Version", cell: (a) => a.FunctionVersion },
          { title: "Extra weights", cell: weights },
          { title: "Description", cell: (a) => a.Description || "" },
          { title: "", cell: deleteAlias },
        ], aliases, "No aliases yet.")),
        h("h3", {}, "Create an alias"),
        field("Name", aliasName),
        field("Version", aliasVersion),
        field("Description", aliasDescription),
        h("div", { class: "columns tight" },
          field("Weighted extra version", extraVersion),
          field("Its weight (0–1)", extraWeight)),
        create)));
}
