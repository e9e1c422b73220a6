// The console's shell: sign-in state, the banners every page shows, and the
// hash router (#/functions, #/functions/NAME/TAB, #/account).

import { Api } from "./api.js";
import { hasWebCrypto } from "./sigv4.js";
import { clearSession, loadSession } from "./session.js";
import { fill, h, notice } from "./ui.js";
import { renderSignIn } from "./pages/signin.js";
import { renderFunctionList } from "./pages/functions.js";
import { renderFunction } from "./pages/function.js";
import { renderAccount } from "./pages/account.js";

const app = document.getElementById("app");
let serverSettings = { region: "us-east-1", authEnabled: true };
let generation = 0;

async function loadServerSettings() {
  try {
    const response = await fetch("settings.json", { cache: "no-store" });
    if (response.ok) serverSettings = await response.json();
  } catch {
    // The defaults above.
  }
}

function renderBanners() {
  const banners = [];
  if (!serverSettings.authEnabled) {
    banners.push(notice("error", "Authentication is off on this server (--auth off): every request is served unauthenticated, whatever key you sign in with."));
  }
  if (!hasWebCrypto()) {
    banners.push(notice("info", "This page is not a secure context (plain http to a non-loopback address): requests are signed with the console's own SHA-256, and nothing between you and the server is encrypted. Put the server behind https to protect it."));
  }
  fill(document.getElementById("banners"), banners);
}

function renderHeader(session) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!session) {
    fill(nav);
    fill(who);
    return;
  }
  const route = location.hash;
  const link = (href, label, active) => h("a", { href, class: active ? "active" : "" }, label);
  fill(nav,
    link("#/functions", "Functions", !route.startsWith("#/account")),
    link("#/account", "Account", route.startsWith("#/account")));
  fill(who,
    h("span", { class: "muted", title: "Access key id" }, `${session.accessKeyId} · ${session.region}`),
    h("button", { class: "link", id: "sign-out", onclick: () => {
      clearSession();
      location.hash = "#/signin";
      route_();
    } }, "Sign out"));
}

async function route_() {
  const mine = ++generation;
  const session = loadSession();
  renderHeader(session);
  const hash = location.hash.replace(/^#\/?/, "");
  const parts = hash.split("/").map(decodeURIComponent);
  if (!session) {
    renderSignIn(app, serverSettings, () => {
      location.hash = "#/functions";
      route_();
    });
    return;
  }
  const api = new Api(session);
  // A page that an older navigation started must not draw over this one.
  const current = () => mine === generation;
  try {
    if (parts[0] === "account") await renderAccount(app, api, current);
    else if (parts[0] === "functions" && parts[1]) await renderFunction(app, api, parts[1], parts[2] || "code", current);
    else await renderFunctionList(app, api, current, serverSettings);
  } catch (error) {
    if (!current()) return;
    fill(app, notice("error", `${error.name}: ${error.message}`));
    if (error.status === 403) {
      app.append(h("p", {}, "The server refused the key: ", h("a", { href: "#/signin", onclick: () => clearSession() }, "sign in again"), "."));
    }
  }
}

window.addEventListener("hashchange", route_);
await loadServerSettings();
renderBanners();
route_();
