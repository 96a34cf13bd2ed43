// A minute before the login ends for want of activity, say so and offer to stay.
// The server decides when it ends (config/idle_timeout.py); this page only asks it how
// long is left (which is no activity), so a request from another tab postpones the
// warning. Without this script the login still ends; the next click goes to the login.

const WARN = 60; // seconds before the end
const SLACK = 30; // the server writes the activity time at most every 30 s: ask early

const body = document.body;
const limit = Number(body.dataset.idleSeconds);
const timeLeftUrl = body.dataset.idleTimeLeftUrl;
const stayUrl = body.dataset.idleStayUrl;
const loginUrl = body.dataset.loginUrl;

let timer = null;
let ticking = null;
let deadline = 0;
let dialog = null;

function schedule(seconds) {
  clearTimeout(timer);
  timer = setTimeout(check, Math.max(seconds, 1) * 1000);
}

function leave() {
  // The page's record leaves the screen at once, even if the browser asks to stay.
  document.getElementById("main")?.setAttribute("hidden", "");
  const here = window.location.pathname + window.location.search;
  window.location.assign(`${loginUrl}?next=${encodeURIComponent(here)}`);
}

async function secondsLeft(url, options = {}) {
  // null: the login has ended (401); undefined: no answer (offline), ask again later.
  try {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      ...options,
    });
    if (response.status === 401) return null;
    if (!response.ok) return undefined;
    return (await response.json()).seconds_left;
  } catch {
    return undefined;
  }
}

async function check() {
  const left = await secondsLeft(timeLeftUrl);
  if (left === null) return leave();
  if (left === undefined) return schedule(10);
  if (left > WARN) {
    hide();
    return schedule(left - WARN);
  }
  if (left <= 0) return schedule(2); // the server's next answer ends it
  warn(left);
}

function csrfToken() {
  return document.querySelector("#logout-form [name=csrfmiddlewaretoken]")?.value || "";
}

async function stay() {
  const left = await secondsLeft(stayUrl, {
    method: "POST",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
  });
  if (left === null) return leave();
  hide();
  schedule((left ?? limit) - WARN - SLACK);
}

function logOut() {
  hide();
  const form = document.getElementById("logout-form");
  if (form) form.requestSubmit();
  else leave();
}

function build() {
  dialog = document.createElement("dialog");
  dialog.className = "idle-warning";
  dialog.setAttribute("role", "alertdialog");
  dialog.setAttribute("aria-labelledby", "idle-warning-title");
  dialog.setAttribute("aria-describedby", "idle-warning-text");
  const title = document.createElement("h2");
  title.id = "idle-warning-title";
  title.textContent = "Are you still there?";
  const text = document.createElement("p");
  text.id = "idle-warning-text";
  text.append("You will be logged out in ");
  const count = document.createElement("span");
  count.className = "idle-count";
  text.append(count, " seconds.");
  // Read out now and then, not every second.
  const spoken = document.createElement("p");
  spoken.className = "visually-hidden";
  spoken.setAttribute("aria-live", "assertive");
  const actions = document.createElement("p");
  actions.className = "actions";
  const stayButton = document.createElement("button");
  stayButton.type = "button";
  stayButton.className = "button";
  stayButton.textContent = "Stay logged in";
  stayButton.addEventListener("click", stay);
  const leaveButton = document.createElement("button");
  leaveButton.type = "button";
  leaveButton.className = "button secondary";
  leaveButton.textContent = "Log out";
  leaveButton.addEventListener("click", logOut);
  actions.append(stayButton, " ", leaveButton);
  dialog.append(title, text, spoken, actions);
  // Escape is an answer too: someone is there.
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    stay();
  });
  document.body.append(dialog);
}

function show(seconds) {
  dialog.querySelector(".idle-count").textContent = String(seconds);
  if (seconds === 30 || seconds === 10) {
    dialog.querySelector("[aria-live]").textContent = `Logged out in ${seconds} seconds.`;
  }
}

function warn(seconds) {
  if (!dialog) build();
  deadline = Date.now() + seconds * 1000;
  show(seconds);
  if (!dialog.open) {
    dialog.showModal();
    dialog.querySelector("button").focus();
  }
  clearInterval(ticking);
  ticking = setInterval(() => {
    const left = Math.ceil((deadline - Date.now()) / 1000);
    if (left > 0) return show(left);
    clearInterval(ticking);
    check(); // ended, or another tab kept the login alive
  }, 1000);
}

function hide() {
  clearInterval(ticking);
  if (dialog?.open) dialog.close();
}

if (limit > 0) schedule(limit - WARN - SLACK);
