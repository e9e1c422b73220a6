// What several tabs share: waiting for a function's update to finish.

import { seg } from "../api.js";
import { until } from "../ui.js";

/** Polls GetFunctionConfiguration until the last update ended (bounded); its config. */
export async function waitUpdated(api, name, timeoutMs = 120000) {
  const config = await until(async () => {
    const found = await api.lambda("GET", `/2015-03-31/functions/${seg(name)}/configuration`);
    return found.LastUpdateStatus === "InProgress" || found.State === "Pending" ? null : found;
  }, timeoutMs, 400);
  if (config.LastUpdateStatus === "Failed") {
    throw new Error(`The update failed: ${config.LastUpdateStatusReason || "no reason given"}`);
  }
  return config;
}
