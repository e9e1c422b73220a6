// The Concurrency tab: reserved concurrency (Put/Get/DeleteFunctionConcurrency)
// and provisioned concurrency per version or alias.

import { isNotFound, seg } from "../api.js";
import { busy, field, fill, h, notice, table } from "../ui.js";

export async function renderConcurrency(panel, api, fn, { current }) {
  const name = fn.Configuration.FunctionName;
  const [reserved, provisioned, settings] = await Promise.all([
    api.lambda("GET", `/2019-09-30/functions/${seg(name)}/concurrency`),
    api.lambda("GET", `/2019-09-30/functions/${seg(name)}/provisioned-concurrency`, { query: [["List", "ALL"]] }),
    api.lambda("GET", "/2016-08-19/account-settings/"),
  ]);
  if (!current()) return;
  const rerender = () => renderConcurrency(panel, api, fn, { current });
  const status = h("div", { class: "status", id: "concurrency-status" });
  const value = reserved.ReservedConcurrentExecutions;
  const input = h("input", { id: "reserved-input", type: "number", min: 0, value: value ?? "" });
  const save = h("button", { class: "primary", id: "save-reserved" }, "Save reserved concurrency");
  save.addEventListener("click", () => busy(save, status, async () => {
    await api.lambda("PUT", `/2017-10-31/functions/${seg(name)}/concurrency`, {
      body: { ReservedConcurrentExecutions: Number(input.value) },
    });
    await rerender();
  }));
  const unreserve = h("button", { id: "delete-reserved", disabled: value === undefined }, "Use unreserved concurrency");
  unreserve.addEventListener("click", () => busy(unreserve, status, async () => {
    await api.lambda("DELETE", `/2017-10-31/functions/${seg(name)}/concurrency`);
    await rerender();
  }));

  const qualifier = h("input", { id: "provisioned-qualifier", placeholder: "alias or version", spellcheck: "false" });
  const amount = h("input", { id: "provisioned-amount", type: "number", min: 1, value: 1 });
  const addProvisioned = h("button", { id: "save-provisioned" }, "Configure");
  addProvisioned.addEventListener("click", () => busy(addProvisioned, status, async () => {
    await api.lambda("PUT", `/2019-09-30/functions/${seg(name)}/provisioned-concurrency`, {
      query: [["Qualifier", qualifier.value.trim()]],
      body: { ProvisionedConcurrentExecutions: Number(amount.value) },
    });
    await rerender();
  }));
  const removeProvisioned = (config) => h("button", { class: "link danger", onclick: (event) => busy(event.target, status, async () => {
    const qual = config.FunctionArn.split(":").pop();
    try {
      await api.lambda("DELETE", `/2019-09-30/functions/${seg(name)}/provisioned-concurrency`, { query: [["Qualifier", qual]] });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    await rerender();
  }) }, "Remove");
  const limits = settings.AccountLimit || {};
  fill(panel,
    status,
    h("div", { class: "columns" },
      h("div", { class: "card" },
        h("h2", {}, "Reserved concurrency"),
        h("p", { id: "reserved-value" }, value === undefined
          ? `None: the function uses the account's unreserved concurrency (${limits.UnreservedConcurrentExecutions} of ${limits.ConcurrentExecutions}).`
          : `${value} reserved (0 stops every invocation).`),
        field("Reserve", input),
        h("div", { class: "toolbar" }, save, unreserve)),
      h("div", { class: "card" },
        h("h2", {}, "Provisioned concurrency"),
        table([
          { title: "Qualifier", cell: (c) => c.FunctionArn.split(":").pop() },
          { title: "Requested", cell: (c) => c.RequestedProvisionedConcurrentExecutions },
          { title: "Allocated", cell: (c) => c.AllocatedProvisionedConcurrentExecutions },
          { title: "Status", cell: (c) => c.Status + (c.StatusReason ? ` (${c.StatusReason})` : "") },
          { title: "", cell: removeProvisioned },
        ], provisioned.ProvisionedConcurrencyConfigs || [], "No provisioned concurrency."),
        h("div", { class: "columns tight" }, field("Version or alias", qualifier), field("Environments", amount)),
        addProvisioned)));
}
