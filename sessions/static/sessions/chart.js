// The charting screen, enhanced: the body chart fills the needle-site form in
// place, the risk prompt shows for risky sites, and the draft saves itself as
// the therapist types. Without this script every part still works by its forms.

const chartForm = document.getElementById("chart-form");
const siteForm = document.getElementById("site-form");
const statusLine = document.getElementById("autosave-status");
const conflictBox = document.getElementById("conflict");

// --- Body chart and risk prompt ---------------------------------------------

const risky = new Set((siteForm?.dataset.risky || "").split(" ").filter(Boolean));
const riskPrompt = document.getElementById("risk-prompt");
const riskBox = siteForm?.elements.risk_acknowledged;
let chosen = "";

function showSelected() {
  const muscle = siteForm.elements.muscle.value;
  const side = siteForm.querySelector("input[name=side]:checked")?.value;
  // An acknowledgement is for one site: a new choice asks again.
  if (chosen && chosen !== `${muscle}/${side}`) riskBox.checked = false;
  chosen = `${muscle}/${side}`;
  riskPrompt.hidden = !risky.has(muscle);
  for (const point of document.querySelectorAll(".body-chart a.point")) {
    const here = point.dataset.muscle === muscle && point.dataset.side === side;
    point.classList.toggle("selected", here);
  }
}

function chooseSite(muscle, side) {
  siteForm.elements.muscle.value = muscle;
  const radio = siteForm.querySelector(`input[name=side][value="${side}"]`);
  if (radio) radio.checked = true;
  showSelected();
  siteForm.elements.needles.focus();
  siteForm.scrollIntoView({ block: "nearest" });
}

if (siteForm) {
  for (const point of document.querySelectorAll(".body-chart a.point")) {
    point.addEventListener("click", (event) => {
      event.preventDefault();
      chooseSite(point.dataset.muscle, point.dataset.side);
    });
  }
  siteForm.elements.muscle.addEventListener("change", showSelected);
  for (const radio of siteForm.querySelectorAll("input[name=side]")) {
    radio.addEventListener("change", showSelected);
  }
  const muscle = siteForm.elements.muscle.value;
  const side = siteForm.querySelector("input[name=side]:checked")?.value;
  chosen = `${muscle}/${side}`;
  showSelected();
}

// --- The draft saves itself -------------------------------------------------
//
// `server` holds the values the server has; what differs from it is unsent.
// Unsent text is kept on this device per login (so a shared computer never
// hands one therapist's words to the next person) until the server has it.
// Text found there on opening the page is offered back, and stays offered
// until the user puts it back or forgets it.

// Who saves, for the server's conflict check: this page load. Its own retries (a dropped
// connection, an answer lost on the way back) carry it and may build on its own saves; any
// other tab saves as another therapist would, and meets the same conflict. Not kept in
// sessionStorage: Chromium copies that (and the form's state) into a duplicated tab, and a
// reload reads the chart afresh at its current version, so it has nothing of its own to retry.
const client = newClientId();
for (const input of document.querySelectorAll('input[name="client"]')) input.value = client;

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Outside HTTPS (a server on the local network) the browser offers only getRandomValues.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

const storageKey = `fascia-chart-${chartForm.dataset.session}-${chartForm.dataset.user}`;
const offerKey = `${storageKey}-offered`;
// A browser reads a textarea's line breaks as "\n" whatever the server stored.
let server = Object.fromEntries(
  Object.entries(JSON.parse(document.getElementById("chart-saved").textContent)).map(
    ([name, value]) => [name, value.replace(/\r\n?/g, "\n")],
  ),
);
let version = Number(chartForm.elements.version.value);
let timer = null;
let saving = null;
let stopped = false;

function chartFields() {
  return Array.from(chartForm.elements).filter(
    (field) => field.name && !["csrfmiddlewaretoken", "version", "client"].includes(field.name),
  );
}

function snapshot() {
  return Object.fromEntries(chartFields().map((field) => [field.name, field.value]));
}

function unsent() {
  const now = snapshot();
  return Object.fromEntries(Object.entries(now).filter(([name, value]) => value !== server[name]));
}

function dirty() {
  return Object.keys(unsent()).length > 0;
}

function keepOnThisDevice() {
  const fields = unsent();
  if (Object.keys(fields).length) {
    localStorage.setItem(storageKey, JSON.stringify({ version, fields }));
  } else {
    localStorage.removeItem(storageKey);
  }
}

function say(text) {
  statusLine.textContent = text;
}

function stop(text) {
  stopped = true;
  say(text);
}

function unreadableNumbers() {
  // A number field reports "" for what it cannot read ("5-6"): never send that as empty.
  const errors = {};
  for (const field of chartFields()) {
    if (field.validity?.badInput) errors[field.name] = ["Type a whole number."];
  }
  return errors;
}

function showFieldErrors(errors) {
  for (const field of chartFields()) {
    const messages = errors[field.name];
    const box = document.getElementById(`${field.id}_autosave_error`);
    if (!messages) {
      if (box) {
        field.removeAttribute("aria-invalid");
        field.removeAttribute("aria-describedby");
        box.remove();
      }
      continue;
    }
    field.setAttribute("aria-invalid", "true");
    const error = box || document.createElement("p");
    error.id = `${field.id}_autosave_error`;
    error.className = "errorlist";
    error.textContent = messages.map((m) => (typeof m === "string" ? m : m.message)).join(" ");
    if (!box) field.before(error);
    field.setAttribute("aria-describedby", error.id);
  }
}

function showBox(...children) {
  conflictBox.replaceChildren(...children);
  conflictBox.hidden = false;
  conflictBox.scrollIntoView({ block: "center" });
}

function paragraph(text) {
  const p = document.createElement("p");
  p.textContent = text;
  return p;
}

function button(text, onClick, className = "") {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

function definitionList(entries) {
  const list = document.createElement("dl");
  for (const [label, value] of entries) {
    const term = document.createElement("dt");
    term.textContent = label;
    const text = document.createElement("dd");
    text.textContent = value === null || value === "" ? "(empty)" : value;
    list.append(term, text);
  }
  return list;
}

function labelOf(name) {
  const field = chartForm.elements[name];
  const label = field && document.querySelector(`label[for="${field.id}"]`);
  return label ? label.textContent : name;
}

function needsLogin() {
  keepOnThisDevice();
  const link = document.createElement("a");
  link.href = chartForm.dataset.loginUrl;
  link.className = "button";
  link.textContent = "Log in again";
  showBox(
    paragraph(
      "Your login has ended, so the chart could not be saved. What you typed is kept on " +
        "this device: log in again and it is offered back to you.",
    ),
    link,
  );
  stop("Not saved: log in again (see above).");
}

async function send() {
  const bad = unreadableNumbers();
  if (Object.keys(bad).length) {
    showFieldErrors(bad);
    say("Not saved: a number cannot be read (marked above). What you type is kept on this device.");
    return;
  }
  const sent = snapshot();
  const body = new FormData(chartForm);
  body.set("version", version);
  body.set("client", client);
  say("Saving…");
  let response;
  try {
    response = await fetch(chartForm.action, {
      method: "POST",
      body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      redirect: "manual",
    });
  } catch {
    say("Offline: what you type is kept on this device and saved when the connection is back.");
    clearTimeout(timer);
    timer = setTimeout(save, 5000);
    return;
  }
  // A redirect (to the login page) or a refused token: the login has ended.
  if (response.type === "opaqueredirect" || response.status === 401 || response.status === 403) {
    const answer = await response.json().catch(() => null);
    if (answer?.detail) stop(`Not saved: ${answer.detail}`);
    else needsLogin();
    return;
  }
  const answer = await response.json().catch(() => null);
  if (answer === null) {
    say(
      `Not saved: the server answered ${response.status}. Trying again in 30 seconds; ` +
        "what you type is kept on this device.",
    );
    clearTimeout(timer);
    timer = setTimeout(save, 30000);
    return;
  }
  if (response.ok) {
    version = answer.version;
    for (const input of document.querySelectorAll('input[name$="version"]')) {
      input.value = version;
    }
    server = sent;
    showFieldErrors({});
    keepOnThisDevice();
    say(`Saved at ${answer.saved_at_text}.`);
  } else if (response.status === 409 && answer.changed) {
    showConflict(answer);
    stop("Not saved: the chart was saved elsewhere after this page opened it (see above).");
  } else if (answer.fields) {
    showFieldErrors(answer.fields);
    say(`${answer.detail} What you type is kept on this device.`);
  } else if (answer.field) {
    showFieldErrors({ [answer.field]: [answer.detail] });
    say(`Not saved: ${answer.detail}`);
  } else if (response.status === 409) {
    stop(`Not saved: ${answer.detail}`); // signed, or no longer in progress
  } else {
    say(`Not saved: ${answer.detail}`);
  }
}

async function save() {
  if (stopped || !dirty()) return;
  while (saving) await saving;
  if (stopped || !dirty()) return;
  saving = send();
  await saving;
  saving = null;
}

function showConflict(answer) {
  keepOnThisDevice();
  const theirs = Object.entries(answer.changed).map(([label, value]) => [
    `${label}, as saved now:`,
    value,
  ]);
  showBox(
    paragraph(answer.detail),
    definitionList(theirs),
    button("Open their version (what you typed is offered back to copy)", () => {
      keepOnThisDevice();
      window.location.reload();
    }),
  );
}

function offerBack() {
  // Found on opening the page: set aside until the user decides, whatever they type meanwhile.
  const found = localStorage.getItem(storageKey);
  if (found) {
    localStorage.setItem(offerKey, found);
    localStorage.removeItem(storageKey);
  }
  const kept = JSON.parse(localStorage.getItem(offerKey) || "null");
  const current = snapshot();
  const differing = kept
    ? Object.entries(kept.fields).filter(([name, value]) => name in current && current[name] !== value)
    : [];
  if (!differing.length) {
    localStorage.removeItem(offerKey);
    return;
  }
  const same = kept.version === version;
  const forget = () => {
    localStorage.removeItem(offerKey);
    conflictBox.hidden = true;
    say("Draft: every change saves itself as you type.");
  };
  const choices = [
    paragraph(
      same
        ? "Text you typed on this device was not saved (a dropped connection or a closed page):"
        : "Text you typed on this device was not saved before someone else changed this chart. " +
            "Copy what you need:",
    ),
    definitionList(differing.map(([name, value]) => [labelOf(name), value])),
  ];
  if (same) {
    choices.push(
      button("Put it back and save", () => {
        for (const [name, value] of differing) chartForm.elements[name].value = value;
        forget();
        save();
      }),
      " ",
    );
  }
  choices.push(button(same ? "Forget it" : "Done: forget it", forget, "secondary"));
  showBox(...choices);
  say("Unsaved text from this device is waiting at the top of the chart.");
  conflictBox.querySelector("button")?.focus();
}

for (const field of chartFields()) {
  field.addEventListener("input", () => {
    keepOnThisDevice();
    if (stopped) return; // the status line says why, and what to do
    clearTimeout(timer);
    timer = setTimeout(save, 1000);
    say("Typing… (saves itself)");
  });
}
window.addEventListener("online", save);
window.addEventListener("beforeunload", (event) => {
  if (dirty()) {
    keepOnThisDevice();
    event.preventDefault();
  }
});

// Another form on the page (a needle site, signing) reloads it: save the draft first,
// and say so beside the button when that cannot be done. Logging out asks first.
document.addEventListener(
  "submit",
  async (event) => {
    const form = event.target;
    if (form === chartForm || !dirty()) return;
    event.preventDefault();
    event.stopPropagation(); // the logout's own handler waits for the answer below
    clearTimeout(timer);
    await save();
    if (!dirty()) {
      form.requestSubmit(); // through the form's own handlers this time
      return;
    }
    if (form.id === "logout-form") {
      const leave = window.confirm(
        "The chart's notes are not saved. Log out and discard them from this device?",
      );
      if (leave) {
        server = snapshot(); // nothing left to keep: the logout forgets the device's copies
        form.requestSubmit();
      }
      return;
    }
    const note = form.querySelector(".save-first") || document.createElement("p");
    note.className = "save-first alert danger";
    note.setAttribute("role", "alert");
    note.textContent = `The chart's notes are not saved yet (${statusLine.textContent}) Save them first.`;
    form.append(note);
  },
  true,
);

if (chartForm.dataset.sentBack === "true" && dirty()) {
  // The form came back refused (a conflict, a value out of range): the text in it is
  // unsent. It is kept, and saved when the user types again or presses Save.
  keepOnThisDevice();
  say("Not saved: compare with what is marked above, then type on or press Save the draft.");
  offerBack();
} else {
  offerBack();
  if (dirty()) {
    // Typed while the page was still loading, before this script listened: saved as typed.
    keepOnThisDevice();
    timer = setTimeout(save, 1000);
    say("Typing… (saves itself)");
  }
}
