// The Code tab: a zip function's files, unzipped in the browser, edited, zipped
// again and deployed with UpdateFunctionCode. Image functions show their image.

import { seg } from "../api.js";
import { isText, readZip, writeZip } from "../zip.js";
import { busy, field, fill, formatBytes, h, notice, toBase64 } from "../ui.js";
import { waitUpdated } from "./common.js";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export async function renderCode(panel, api, fn) {
  const config = fn.Configuration;
  if (config.PackageType === "Image") {
    fill(panel, h("p", {}, "This function runs a container image: ", h("code", {}, fn.Code.ImageUri || fn.Code.ResolvedImageUri || "-")));
    return;
  }
  fill(panel, h("p", { class: "muted" }, "Downloading the code…"));
  const download = await fetch(fn.Code.Location, { credentials: "omit", cache: "no-store" });
  if (!download.ok) throw new Error(`The code download failed (HTTP ${download.status})`);
  let entries;
  try {
    entries = await readZip(new Uint8Array(await download.arrayBuffer()));
  } catch (error) {
    fill(panel, notice("error", `The code cannot be shown: ${error.message}`));
    return;
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  const files = entries.map((e) => ({ ...e, text: isText(e.data) ? decoder.decode(e.data) : null }));
  const handlerFile = (config.Handler || "").split(".")[0];
  let selected = files.find((f) => f.name.startsWith(`${handlerFile}.`) && f.text !== null) || files.find((f) => f.text !== null) || files[0];
  let dirty = false;

  const list = h("ul", { class: "file-list", id: "file-list" });
  const editor = h("textarea", { class: "editor", id: "code-editor", spellcheck: "false", wrap: "off" });
  const status = h("div", { class: "status", id: "deploy-status" });
  const deploy = h("button", { class: "primary", id: "deploy", disabled: true }, "Deploy");
  const newName = h("input", { placeholder: "new-file.py", id: "new-file-name", spellcheck: "false" });

  const showList = () => fill(list, files.map((f) => h("li", {},
    h("button", { class: f === selected ? "file active" : "file", onclick: () => select(f), title: formatBytes(f.data.length) }, f.name))));
  const select = (file) => {
    selected = file;
    showList();
    if (file && file.text !== null) {
      editor.disabled = false;
      editor.value = file.text;
    } else {
      editor.disabled = true;
      editor.value = file ? `(${file.name}: binary file, ${formatBytes(file.data.length)}; kept as it is)` : "";
    }
  };
  editor.addEventListener("input", () => {
    if (!selected || selected.text === null) return;
    selected.text = editor.value;
    selected.data = encoder.encode(editor.value);
    dirty = true;
    deploy.disabled = false;
    fill(status, notice("info", "Changes not deployed yet."));
  });
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && !event.shiftKey) {
      event.preventDefault();
      editor.setRangeText("    ", editor.selectionStart, editor.selectionEnd, "end");
      editor.dispatchEvent(new Event("input"));
    }
  });
  const addFile = h("button", { onclick: () => {
    const name = newName.value.trim().replace(/^\/+/, "");
    if (!name || files.some((f) => f.name === name)) return;
    const file = { name, data: new Uint8Array(0), text: "", mode: 0o100644 };
    files.push(file);
    files.sort((a, b) => a.name.localeCompare(b.name));
    newName.value = "";
    dirty = true;
    deploy.disabled = false;
    select(file);
  } }, "Add file");
  deploy.addEventListener("click", () => busy(deploy, status, async () => {
    fill(status, notice("info", "Zipping and deploying…"));
    const zip = await writeZip(files.map((f) => ({ name: f.name, data: f.data, mode: f.mode, time: f.time, date: f.date })));
    await api.lambda("PUT", `/2015-03-31/functions/${seg(config.FunctionName)}/code`, {
      body: { ZipFile: toBase64(zip) },
    });
    const updated = await waitUpdated(api, config.FunctionName);
    dirty = false;
    fill(status, notice("ok", `Deployed: ${formatBytes(updated.CodeSize)}, CodeSha256 ${updated.CodeSha256}.`));
    deploy.disabled = true;
  }));
  // One handler for the page (not one more per visit of the tab).
  window.onbeforeunload = (event) => {
    if (dirty && document.body.contains(editor)) event.preventDefault();
  };
  select(selected);
  fill(panel,
    h("div", { class: "toolbar" }, deploy, h("span", { class: "muted" }, `${files.length} files · ${formatBytes(config.CodeSize)} zipped`)),
    status,
    h("div", { class: "code-layout" },
      h("div", {}, list, h("div", { class: "add-file" }, field("New file", newName), addFile)),
      editor));
}
