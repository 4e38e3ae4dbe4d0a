// The sign-in page: posts the form as JSON to /api/auth/login, then opens the console.
import { api, t } from "./common.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

function safeNext(value) {
  // Only a path of this site (never "//host" or an absolute URL).
  return value && value.startsWith("/") && !value.startsWith("//") && !value.includes("\\")
    ? value
    : "/console";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const data = new FormData(form);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("POST", "/api/auth/login", {
      username: String(data.get("username") || ""),
      password: String(data.get("password") || ""),
    });
    location.assign(safeNext(form.dataset.next));
  } catch (err) {
    if (err.status === 401 || err.status === 400) error.textContent = t("login.failed");
    else if (err.status === 429) error.textContent = t("login.locked");
    else error.textContent = t("login.error", { message: err.message });
    error.hidden = false;
    document.getElementById("password").focus();
  } finally {
    button.disabled = false;
  }
});
