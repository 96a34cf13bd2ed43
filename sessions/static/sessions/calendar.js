// Moving a booking in the calendar (sessions/includes/calendar_move.html).
//
// Drag a booking onto free time, or (by keyboard, or on a tablet) press its Move button
// and then a free time: a dialog asks the time, and the move is posted to the booking's
// own Move form (sessions:move), which applies booking's rules and says what is wrong.
// Free time is marked data-drop, with its day, therapist and, in the week view, the
// time it runs from and until.

const status = document.getElementById("calendar-move-status");
const dialog = document.getElementById("calendar-move-dialog");
const form = document.getElementById("calendar-move-form");
const question = document.getElementById("calendar-move-question");
const room = document.getElementById("calendar-move-room");
const time = form.elements["move-time"];
let moving = null;

const minutesOf = (hhmm) => {
  const [hours, minutes] = hhmm.split(":").map(Number);
  return hours * 60 + minutes;
};
const hhmm = (minutes) =>
  `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;

function start(booking) {
  moving = booking.dataset;
  document.body.classList.add("calendar-moving");
  status.textContent = `Moving ${moving.patient}: choose a free time, or press Escape.`;
  status.hidden = false;
}

function stop() {
  moving = null;
  document.body.classList.remove("calendar-moving");
  status.hidden = true;
}

function offer(target) {
  const free = target.dataset;
  const length = Number(moving.minutes);
  const from = minutesOf(free.from);
  const until = free.until ? minutesOf(free.until) : null;
  // The booking's own time of day when it fits in the free time, else the free time's start.
  const own = minutesOf(moving.time);
  const fits = until !== null && own >= from && own + length <= until;
  time.value = hhmm(fits ? own : from);
  time.min = free.from;
  time.max = until !== null ? hhmm(Math.max(from, until - length)) : "";
  form.action = moving.move;
  form.elements["move-day"].value = free.day;
  form.elements["move-therapist"].value = free.therapist;
  question.textContent = `Move ${moving.patient} to ${free.dayName} with ${free.therapistName}`;
  room.textContent = until !== null
    ? `Free ${free.from} to ${free.until}; the booking lasts ${length} minutes.`
    : `The booking lasts ${length} minutes.`;
  dialog.showModal();
  time.focus();
}

for (const button of document.querySelectorAll("[data-moves]")) {
  button.hidden = false;
  const booking = document.querySelector(`[data-move="${button.dataset.moves}"]`);
  button.addEventListener("click", () => start(booking));
}

for (const booking of document.querySelectorAll("[data-move]")) {
  booking.addEventListener("dragstart", (event) => {
    event.dataTransfer.setData("text/plain", booking.dataset.move);
    event.dataTransfer.effectAllowed = "move";
    start(booking);
  });
  booking.addEventListener("dragend", () => {
    if (!dialog.open) stop();
  });
}

for (const target of document.querySelectorAll("[data-drop]")) {
  target.addEventListener("click", (event) => {
    if (!moving) return; // not moving: the link books this free time
    event.preventDefault();
    offer(target);
  });
  target.addEventListener("dragover", (event) => {
    if (!moving) return;
    event.preventDefault();
    target.classList.add("calendar-drop");
  });
  target.addEventListener("dragleave", () => target.classList.remove("calendar-drop"));
  target.addEventListener("drop", (event) => {
    event.preventDefault();
    target.classList.remove("calendar-drop");
    if (moving) offer(target);
  });
}

document.getElementById("calendar-move-keep").addEventListener("click", () => {
  dialog.close();
  stop();
});
dialog.addEventListener("cancel", stop);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && moving && !dialog.open) stop();
});
