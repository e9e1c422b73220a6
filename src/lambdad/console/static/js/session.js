// The signed-in key, kept for this tab only (sessionStorage): closing the tab or
// signing out forgets it; it is never sent anywhere, only used to sign.

const KEY = "lambdad.console.session";

export function loadSession() {
  try {
    const found = JSON.parse(sessionStorage.getItem(KEY) || "null");
    return found && found.accessKeyId && found.secretAccessKey && found.region ? found : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}
