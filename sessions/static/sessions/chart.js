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

function showSelected() {
  const muscle = siteForm.elements.muscle.value;
  const side = siteForm.querySelector("input[name=side]:checked")?.value;
  riskPrompt.hidden = !risky.has(muscle);
  for (const point of document.querySelectorAll(".body-chart a.point")) {
    const chosen = point.dataset.muscle === muscle && point.dataset.side === side;
    point.classList.toggle("selected", chosen);
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
  showSelected();
}

// --- The draft saves itself -------------------------------------------------

// Unsent text is kept per login, so a shared computer never hands one
// therapist's words to the next person (who is asked before anything is restored).
const storageKey = `fascia-chart-${chartForm.dataset.session}-${chartForm.dataset.user}`;
let version = Number(chartForm.elements.version.value);
let saved = JSON.stringify(snapshot());
let timer = null;
let saving = null;
let stopped = false;

function chartFields() {
  return Array.from(chartForm.elements).filter(
    (field) => field.name && !["csrfmiddlewaretoken", "version"].includes(field.name),
  );
}

function snapshot() {
  return Object.fromEntries(chartFields().map((field) => [field.name, field.value]));
}

function dirty() {
  return JSON.stringify(snapshot()) !== saved;
}

function keepOnThisDevice() {
  localStorage.setItem(storageKey, JSON.stringify({ version, fields: snapshot() }));
}

function say(text) {
  statusLine.textContent = text;
}

function showFieldErrors(errors) {
  for (const field of chartFields()) {
    const messages = errors[field.name];
    const box = document.getElementById(`${field.id}_autosave_error`);
    if (!messages) {
      field.removeAttribute("aria-invalid");
      box?.remove();
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

function needsLogin() {
  stopped = true;
  keepOnThisDevice();
  conflictBox.replaceChildren();
  const lead = document.createElement("p");
  lead.textContent =
    "Your login has ended, so the chart could not be saved. What you typed is kept on this " +
    "device: log in again and it is offered back to you.";
  const link = document.createElement("a");
  link.href = chartForm.dataset.loginUrl;
  link.className = "button";
  link.textContent = "Log in again";
  conflictBox.append(lead, link);
  conflictBox.hidden = false;
  conflictBox.scrollIntoView({ block: "center" });
  say("Not saved: log in again.");
}

async function send() {
  const sent = JSON.stringify(snapshot());
  const body = new FormData(chartForm);
  body.set("version", version);
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
    if (answer?.detail && response.status === 403 && !/CSRF/i.test(answer.detail)) {
      stopped = true;
      say(`Not saved: ${answer.detail}`);
    } else {
      needsLogin();
    }
    return;
  }
  const answer = await response.json().catch(() => null);
  if (answer === null) {
    say(`Not saved: the server answered ${response.status}. Trying again in 30 seconds; what you type is kept on this device.`);
    clearTimeout(timer);
    timer = setTimeout(save, 30000);
    return;
  }
  if (response.ok) {
    version = answer.version;
    for (const input of document.querySelectorAll('input[name$="version"]')) {
      input.value = version;
    }
    saved = sent;
    showFieldErrors({});
    if (dirty()) keepOnThisDevice();
    else localStorage.removeItem(storageKey);
    const time = new Date(answer.saved_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    say(`Saved at ${time}.`);
  } else if (response.status === 409 && answer.changed) {
    stopped = true;
    showConflict(answer);
    say("Not saved: someone else saved this chart. See above.");
  } else if (answer.fields) {
    showFieldErrors(answer.fields);
    say(`${answer.detail} What you type is kept on this device.`);
  } else if (answer.field) {
    showFieldErrors({ [answer.field]: [answer.detail] });
    say(`Not saved: ${answer.detail}`);
  } else {
    stopped = response.status === 409; // signed or no longer in progress
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

function showConflict(answer) {
  conflictBox.replaceChildren();
  const lead = document.createElement("p");
  lead.textContent = answer.detail;
  const theirs = Object.entries(answer.changed).map(([label, value]) => [
    `${label}, as they saved it:`,
    value,
  ]);
  const reload = document.createElement("button");
  reload.type = "button";
  reload.textContent = "Open their version (your text stays on this device)";
  reload.addEventListener("click", () => {
    keepOnThisDevice();
    window.location.reload();
  });
  conflictBox.append(lead, definitionList(theirs), reload);
  conflictBox.hidden = false;
  conflictBox.scrollIntoView({ block: "center" });
}

function labelOf(name) {
  const field = chartForm.elements[name];
  const label = field && document.querySelector(`label[for="${field.id}"]`);
  return label ? label.textContent : name;
}

function offerUnsaved() {
  const kept = JSON.parse(localStorage.getItem(storageKey) || "null");
  const current = snapshot();
  const differing = kept
    ? Object.entries(kept.fields).filter(([name, value]) => name in current && current[name] !== value)
    : [];
  if (!differing.length) {
    localStorage.removeItem(storageKey);
    return;
  }
  // Typed on this device and never saved. Nothing is put back without asking.
  conflictBox.replaceChildren();
  const lead = document.createElement("p");
  lead.textContent =
    kept.version === version
      ? "Text you typed on this device earlier was not saved (a dropped connection or a closed page):"
      : "Text you typed on this device was not saved before someone else saved this chart. Copy what you need:";
  conflictBox.append(lead, definitionList(differing.map(([name, value]) => [labelOf(name), value])));
  if (kept.version === version) {
    const restore = document.createElement("button");
    restore.type = "button";
    restore.textContent = "Put it back and save";
    restore.addEventListener("click", () => {
      for (const [name, value] of differing) chartForm.elements[name].value = value;
      conflictBox.hidden = true;
      save();
    });
    conflictBox.append(restore);
  }
  const forget = document.createElement("button");
  forget.type = "button";
  forget.className = "secondary";
  forget.textContent = "Forget it";
  forget.addEventListener("click", () => {
    localStorage.removeItem(storageKey);
    conflictBox.hidden = true;
  });
  conflictBox.append(" ", forget);
  conflictBox.hidden = false;
}

for (const field of chartFields()) {
  field.addEventListener("input", () => {
    keepOnThisDevice();
    clearTimeout(timer);
    timer = setTimeout(save, 1000);
    say("Typing… (saves itself)");
  });
}
window.addEventListener("online", save);

// Another form on the page (a needle site, signing) reloads it: save the draft first,
// and say so beside the button when that cannot be done.
for (const form of document.querySelectorAll("form:not(#chart-form)")) {
  form.addEventListener("submit", async (event) => {
    if (!dirty() || stopped) return;
    event.preventDefault();
    clearTimeout(timer);
    await save();
    if (!stopped && !dirty()) {
      form.submit();
      return;
    }
    const note = form.querySelector(".save-first") || document.createElement("p");
    note.className = "save-first errorlist";
    note.setAttribute("role", "alert");
    note.textContent = `The chart's notes are not saved yet (${statusLine.textContent}) Save them first.`;
    form.append(note);
  });
}

offerUnsaved();
