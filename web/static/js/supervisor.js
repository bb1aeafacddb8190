// The supervisor dashboard: live queues, today's figures, charts, counsellors, waiting and active
// chats, and a read-only view of a chat.
//
// One socket (live_socket.js) to /ws/supervisor; the server pushes a whole `dashboard` frame after
// every change (docs/protocol.md, 7), so the page only ever draws the latest one. Between pushes
// the waits and times in status count on from the server's clock.

import { _, loadCatalogue } from "./i18n.js";
import { LiveSocket, socketUrl } from "./live_socket.js";
import {
  clockTime,
  duration,
  languageName,
  observeServerTime,
  serverNow,
} from "./console_format.js";
import { hourChart, serviceLevelChart } from "./supervisor_charts.js";
import { ObservedChats } from "./supervisor_observe.js";

const TICK_MS = 1000;

function cell(row, text, header = false) {
  const element = document.createElement(header ? "th" : "td");
  if (header) element.scope = "row";
  element.textContent = text;
  row.append(element);
  return element;
}

function percent(share) {
  return share === null || share === undefined ? "–" : `${Math.round(share * 100)} %`;
}

function seconds(value) {
  return value === null || value === undefined ? "–" : duration(value);
}

function number(value, digits = 1) {
  return value === null || value === undefined ? "–" : value.toFixed(digits);
}

// Each dashboard frame carries the parts that changed since the last one (the first, all of
// them); a queue's waiting list with count 0 is gone.
function merged(view, frame) {
  const out = { ...(view || {}), waiting: { ...((view && view.waiting) || {}) } };
  for (const [name, value] of Object.entries(frame)) {
    if (name === "v" || name === "type") continue;
    if (name === "waiting") {
      for (const [queue, listed] of Object.entries(value)) {
        if (listed.count) out.waiting[queue] = listed;
        else delete out.waiting[queue];
      }
    } else {
      out[name] = value;
    }
  }
  return out;
}

class Dashboard {
  constructor() {
    const $ = (id) => document.getElementById(id);
    this.$ = $;
    this.frame = null;
    this.centres = {};
    this.el = {
      connection: $("connection"),
      signIn: $("sign-in-again"),
      problem: $("problem"),
      updated: $("updated"),
      queueRows: $("queue-rows"),
      queueTotal: $("queue-total"),
      todayRows: $("today-rows"),
      todayTotal: $("today-total"),
      todayOverflow: $("today-overflow"),
      staffRows: $("staff-rows"),
      staffNote: $("staff-note"),
      waitingLists: $("waiting-lists"),
      waitingEmpty: $("waiting-empty"),
      active: $("active"),
      activeRows: $("active-rows"),
      activeEmpty: $("active-empty"),
      activeMore: $("active-more"),
    };
    this.observed = new ObservedChats($("observed"), (chatId) =>
      this.socket.send("stop_observing", { chat_id: chatId }),
    );
  }

  start() {
    this.socket = new LiveSocket(socketUrl("/ws/supervisor"), {
      open: () => {},
      frame: (frame) => this.onFrame(frame),
      state: (name, detail) => this.onConnection(name, detail),
    });
    window.setInterval(() => this.tick(), TICK_MS);
  }

  onConnection(name, code) {
    const box = this.el.connection;
    box.dataset.state = name;
    this.el.signIn.hidden = true;
    if (name === "open") {
      box.textContent = _("Connected. The figures are live.");
    } else if (name === "connecting") {
      box.textContent = _("Connecting…");
    } else if (name === "reconnecting") {
      box.textContent = _("The connection was lost. Reconnecting… The figures shown are not live.");
      this.observed.clear();
      this.frame = null; // the new connection starts with the whole dashboard
    } else if (code === 4401 || code === 4410) {
      box.textContent = _("Your session has ended. Please sign in again.");
      this.el.signIn.hidden = false;
    } else if (code === 4403) {
      box.textContent = _("This account cannot use the dashboard.");
    } else {
      box.textContent = _("The dashboard was disconnected. Reload the page to connect again.");
    }
  }

  onFrame(frame) {
    switch (frame.type) {
      case "dashboard":
        if (!this.frame) this.socket.ready();
        observeServerTime(frame.at);
        this.frame = merged(this.frame, frame);
        this.centres = this.frame.centres || {};
        this.draw();
        break;
      case "applied":
        this.el.staffNote.textContent =
          frame.action === "set_capacity"
            ? _("Capacity changed to {capacity}.", { capacity: frame.capacity })
            : _("The counsellor is now away.");
        break;
      case "error":
        this.el.problem.textContent = _("That could not be done: {reason}", {
          reason: frame.message,
        });
        break;
      case "observing":
        this.observed.open(frame.chat_id, this.chatInfo(frame.chat_id));
        if (this.frame) this.drawActive(this.frame.active);
        break;
      case "observing_stopped":
        this.observed.close(frame.chat_id);
        if (this.frame) this.drawActive(this.frame.active);
        break;
      default:
        this.observed.onFrame(frame);
    }
  }

  chatInfo(chatId) {
    const chats = this.frame ? this.frame.active.chats : [];
    return chats.find((chat) => chat.chat_id === chatId) || { chat_id: chatId };
  }

  queueName(queue) {
    if (queue === "total") return _("All queues");
    if (queue === "national") return _("National team");
    return this.centres[queue] || _("County {number}", { number: queue });
  }

  staffName(id) {
    const row = this.frame && this.frame.counsellors.find((c) => c.counsellor_id === id);
    return row ? row.name : "–";
  }

  // ------------------------------------------------------------------ drawing

  draw() {
    const frame = this.frame;
    this.el.problem.textContent = "";
    this.el.updated.textContent = _("Updated {time}.", { time: clockTime(frame.at) });
    this.drawQueues(frame);
    this.drawToday(frame.today);
    this.drawCharts(frame);
    this.drawStaff(frame.counsellors);
    this.drawWaiting(frame.waiting);
    this.drawActive(frame.active);
  }

  queueRow(row, header) {
    const tr = document.createElement("tr");
    cell(tr, this.queueName(row.queue), header);
    cell(tr, String(row.waiting));
    cell(tr, String(row.overflowed));
    const wait = cell(tr, seconds(row.oldest_since === null ? null : serverNow() - row.oldest_since));
    if (row.oldest_since !== null) wait.dataset.since = String(row.oldest_since);
    cell(tr, String(row.active));
    for (const state of ["available", "busy", "away", "offline"]) {
      cell(tr, String(row.counsellors[state]));
    }
    return tr;
  }

  drawQueues(frame) {
    this.el.queueRows.replaceChildren(...frame.queues.map((row) => this.queueRow(row, true)));
    this.el.queueTotal.replaceChildren(this.queueRow(frame.total, true));
  }

  todayRow(row) {
    const tr = document.createElement("tr");
    cell(tr, this.queueName(row.queue), true);
    cell(tr, String(row.chats));
    cell(tr, String(row.answered));
    cell(tr, String(row.abandoned));
    cell(tr, String(row.overflowed));
    cell(tr, seconds(row.wait_average));
    cell(tr, seconds(row.wait_p90));
    cell(tr, percent(row.service_level));
    cell(tr, percent(row.own_county_share));
    cell(tr, seconds(row.handling_average));
    cell(tr, number(row.survey_average));
    return tr;
  }

  drawToday(today) {
    if (!today) return;
    this.el.todayRows.replaceChildren(...today.queues.map((row) => this.todayRow(row)));
    this.el.todayTotal.replaceChildren(this.todayRow(today.total));
    const reasons = today.total.overflow_reasons || {};
    this.el.todayOverflow.textContent = _(
      "Overflowed because they waited: {waited}; no counsellor signed in: {no_staff}; centre closed: {closed}. Service level: answered within {target}.",
      {
        waited: reasons.waited || 0,
        no_staff: reasons.no_staff || 0,
        closed: reasons.closed || 0,
        target: duration(today.service_level_seconds),
      },
    );
  }

  drawCharts(frame) {
    hourChart(this.$("hour-chart"), this.$("hour-caption"), frame.history || [], frame.at);
    const hours = frame.today ? frame.today.by_hour : [];
    serviceLevelChart(this.$("level-chart"), this.$("level-caption"), hours);
  }

  statusText(row) {
    return {
      available: _("Available"),
      busy: _("Busy (full)"),
      away: _("Away"),
      offline: _("Offline"),
    }[row.state];
  }

  drawStaff(rows) {
    // Keep a control that has the focus (a capacity being typed) instead of redrawing it.
    const focused = document.activeElement;
    const keep = focused && focused.closest("#staff-rows") ? focused.dataset.counsellor : null;
    const out = [];
    for (const row of rows) {
      if (keep && row.counsellor_id === keep) {
        out.push(focused.closest("tr"));
        continue;
      }
      const tr = document.createElement("tr");
      tr.dataset.counsellor = row.counsellor_id;
      cell(tr, row.name, true);
      const centres = [];
      if (row.centre) centres.push(this.queueName(row.centre));
      if (row.national) centres.push(_("National team"));
      cell(tr, centres.join(", "));
      cell(tr, this.statusText(row));
      const since = cell(tr, seconds(row.since === null ? null : serverNow() - row.since));
      if (row.since !== null) since.dataset.since = String(row.since);
      cell(tr, _("{load} of {capacity}", { load: row.load, capacity: row.capacity }));
      tr.append(this.capacityCell(row), this.actionCell(row));
      out.push(tr);
    }
    this.el.staffRows.replaceChildren(...out);
  }

  capacityCell(row) {
    const td = document.createElement("td");
    const form = document.createElement("form");
    form.className = "inline-form";
    const id = `capacity-${row.counsellor_id}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.className = "visually-hidden";
    label.textContent = _("Capacity for {name}", { name: row.name });
    const input = document.createElement("input");
    Object.assign(input, { id, type: "number", min: "1", max: "10", value: String(row.capacity) });
    input.dataset.counsellor = row.counsellor_id;
    const button = document.createElement("button");
    button.type = "submit";
    button.textContent = _("Save");
    button.dataset.counsellor = row.counsellor_id;
    form.append(label, input, button);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const capacity = Number(input.value);
      if (!Number.isInteger(capacity) || capacity < 1 || capacity > 10) {
        this.el.staffNote.textContent = _("Capacity is a whole number from 1 to 10.");
        input.focus();
        return;
      }
      this.socket.send("set_capacity", { counsellor_id: row.counsellor_id, capacity });
      input.blur();
    });
    td.append(form);
    return td;
  }

  actionCell(row) {
    const td = document.createElement("td");
    if (row.state === "available" || row.state === "busy") {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = _("Set away");
      button.setAttribute("aria-label", _("Set {name} away", { name: row.name }));
      button.addEventListener("click", () =>
        this.socket.send("set_away", { counsellor_id: row.counsellor_id }),
      );
      td.append(button);
    }
    return td;
  }

  drawWaiting(waiting) {
    const queues = Object.keys(waiting);
    this.el.waitingEmpty.hidden = queues.length > 0;
    const sections = queues.map((queue) => {
      const list = waiting[queue];
      const section = document.createElement("section");
      const heading = document.createElement("h3");
      heading.id = `waiting-${queue}`;
      heading.textContent = _("{queue}: {count} waiting", {
        queue: this.queueName(queue),
        count: list.count,
      });
      const table = document.createElement("table");
      table.setAttribute("aria-labelledby", heading.id);
      const head = document.createElement("tr");
      for (const title of [_("Place"), _("County"), _("Language"), _("Waited"), _("Overflowed"), _("Offered to")]) {
        const th = document.createElement("th");
        th.scope = "col";
        th.textContent = title;
        head.append(th);
      }
      const thead = document.createElement("thead");
      thead.append(head);
      const body = document.createElement("tbody");
      list.chats.forEach((chat, index) => {
        const tr = document.createElement("tr");
        cell(tr, String(index + 1), true);
        cell(tr, chat.county ? this.queueName(chat.county) : _("No county given"));
        cell(tr, languageName(chat.language));
        const waited = cell(tr, seconds(serverNow() - chat.waiting_since));
        waited.dataset.since = String(chat.waiting_since);
        cell(tr, chat.overflowed ? _("Yes") : _("No"));
        cell(tr, chat.offered_to ? this.staffName(chat.offered_to) : "–");
        body.append(tr);
      });
      table.append(thead, body);
      section.append(heading, table);
      if (list.count > list.chats.length) {
        const more = document.createElement("p");
        more.className = "hint";
        more.textContent = _("And {count} more.", { count: list.count - list.chats.length });
        section.append(more);
      }
      return section;
    });
    this.el.waitingLists.replaceChildren(...sections);
  }

  drawActive(active) {
    this.el.active.hidden = active.count === 0;
    this.el.activeEmpty.hidden = active.count > 0;
    const focusedChat = document.activeElement && document.activeElement.dataset.observe;
    const rows = active.chats.map((chat) => {
      const tr = document.createElement("tr");
      cell(tr, this.queueName(chat.queue), true);
      cell(tr, chat.county ? this.queueName(chat.county) : _("No county given"));
      cell(tr, languageName(chat.language));
      cell(tr, chat.counsellor || "–");
      cell(tr, chat.answered_at ? clockTime(chat.answered_at) : "–");
      const td = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.observe = chat.chat_id;
      const watching = this.observed.has(chat.chat_id);
      button.textContent = watching ? _("Observing") : _("Observe");
      button.disabled = watching;
      button.setAttribute(
        "aria-label",
        _("Observe the chat with {counsellor} answered {time}", {
          counsellor: chat.counsellor || "–",
          time: chat.answered_at ? clockTime(chat.answered_at) : "–",
        }),
      );
      button.addEventListener("click", () => this.socket.send("observe", { chat_id: chat.chat_id }));
      td.append(button);
      tr.append(td);
      return tr;
    });
    this.el.activeRows.replaceChildren(...rows);
    if (focusedChat) {
      const again = this.el.activeRows.querySelector(`[data-observe="${focusedChat}"]`);
      if (again) again.focus();
    }
    const more = active.count > active.chats.length;
    this.el.activeMore.hidden = !more;
    this.el.activeMore.textContent = more
      ? _("The {shown} most recently answered of {count} are listed.", {
          shown: active.chats.length,
          count: active.count,
        })
      : "";
  }

  // Waits and times in status count on between pushes.
  tick() {
    const now = serverNow();
    document.querySelectorAll("#dashboard [data-since]").forEach((element) => {
      element.textContent = duration(now - Number(element.dataset.since));
    });
  }
}

await loadCatalogue();
new Dashboard().start();
