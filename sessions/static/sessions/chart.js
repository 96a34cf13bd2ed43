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

const storageKey = `fascia-chart-${chartForm.dataset.session}`;
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

async function save() {
  if (stopped || !dirty()) return;
  if (saving) {
    await saving;
    return save();
  }
  const sent = JSON.stringify(snapshot());
  const body = new FormData(chartForm);
  body.set("version", version);
  say("Saving…");
  saving = (async () => {
    try {
      const response = await fetch(chartForm.action, {
        method: "POST",
        body,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const answer = await response.json();
      if (response.ok) {
        version = answer.version;
        for (const form of document.querySelectorAll("form")) {
          if (form.elements.version) form.elements.version.value = version;
        }
        saved = sent;
        if (dirty()) keepOnThisDevice();
        else localStorage.removeItem(storageKey);
        say(`Saved at ${new Date(answer.saved_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}.`);
      } else if (response.status === 409 && answer.changed) {
        stopped = true;
        showConflict(answer);
        say("Not saved: someone else saved this chart. See above.");
      } else {
        say(`Not saved: ${answer.detail}`);
      }
    } catch {
      say("Offline: what you type is kept on this device and saved when the connection is back.");
      clearTimeout(timer);
      timer = setTimeout(save, 5000);
    }
  })();
  await saving;
  saving = null;
}

function showConflict(answer) {
  conflictBox.replaceChildren();
  const lead = document.createElement("p");
  lead.textContent = answer.detail;
  conflictBox.append(lead);
  const list = document.createElement("dl");
  for (const [label, value] of Object.entries(answer.changed)) {
    const term = document.createElement("dt");
    term.textContent = `${label}, as they saved it:`;
    const text = document.createElement("dd");
    text.textContent = value === null || value === "" ? "(empty)" : value;
    list.append(term, text);
  }
  conflictBox.append(list);
  const reload = document.createElement("button");
  reload.type = "button";
  reload.textContent = "Open their version (your text stays on this device)";
  reload.addEventListener("click", () => {
    keepOnThisDevice();
    window.location.reload();
  });
  conflictBox.append(reload);
  conflictBox.hidden = false;
  conflictBox.scrollIntoView({ block: "center" });
}

function restoreUnsaved() {
  const kept = JSON.parse(localStorage.getItem(storageKey) || "null");
  if (!kept || JSON.stringify(kept.fields) === saved) {
    localStorage.removeItem(storageKey);
    return;
  }
  if (kept.version === version) {
    // Typed here, never reached the server (a dropped connection, a closed tab).
    for (const field of chartFields()) {
      if (field.name in kept.fields) field.value = kept.fields[field.name];
    }
    say("Restored what you typed before the connection dropped; saving it now.");
    save();
    return;
  }
  // Someone saved since: show this device's text to copy from, overwrite nothing.
  conflictBox.replaceChildren();
  const lead = document.createElement("p");
  lead.textContent = "Text typed on this device was not saved before someone else saved this chart. Copy what you need:";
  conflictBox.append(lead);
  const list = document.createElement("dl");
  const current = snapshot();
  for (const [name, value] of Object.entries(kept.fields)) {
    if (current[name] === value) continue;
    const label = document.querySelector(`label[for="id_${name}"]`);
    const term = document.createElement("dt");
    term.textContent = label ? label.textContent : name;
    const text = document.createElement("dd");
    text.textContent = value || "(empty)";
    list.append(term, text);
  }
  conflictBox.append(list);
  const done = document.createElement("button");
  done.type = "button";
  done.textContent = "Done: forget that text";
  done.addEventListener("click", () => {
    localStorage.removeItem(storageKey);
    conflictBox.hidden = true;
  });
  conflictBox.append(done);
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

// Another form on the page (a needle site, signing) reloads it: save the draft first.
for (const form of document.querySelectorAll("form:not(#chart-form)")) {
  form.addEventListener("submit", async (event) => {
    if (!dirty() || stopped) return;
    event.preventDefault();
    clearTimeout(timer);
    await save();
    if (!stopped && !dirty()) form.submit();
  });
}

restoreUnsaved();
