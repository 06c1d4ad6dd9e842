// Interview practice (kd_practice.py): the question bank as cards on a Leitner schedule.
// The cards come from kd-practice-cards.js (window.KD_PRACTICE_CARDS), generated from the
// interview-questions chapter when the book is built; every string shown comes from the page
// (data-strings of #kd-practice), so each edition speaks its own language. Progress is kept
// in this browser (localStorage), shared by both editions (the questions are the same).
// Tested by tests/test_practice.py.
(function () {
  "use strict";
  const STORE = "kd-book-practice";
  const FORMAT = "kd-book-practice-progress";
  const MIN = 60 * 1000, HOUR = 60 * MIN, DAY = 24 * HOUR;
  const RATINGS = ["again", "hard", "good"];

  const root = document.getElementById("kd-practice");
  if (!root) return;
  const S = JSON.parse(root.dataset.strings);
  const DATA = window.KD_PRACTICE_CARDS;
  const $ = (id) => document.getElementById("kd-practice-" + id);
  const fmt = (template, vars) => String(template).replace(/\{(\w+)\}/g, (m, k) => (k in vars ? vars[k] : m));
  const status = $("status");
  if (!DATA || !Array.isArray(DATA.cards)) {
    status.textContent = S.no_data;
    return;
  }
  const SCHED = DATA.schedule;
  const BOXES = SCHED.box_days.length;
  const CARDS = DATA.cards.map((c, i) => Object.assign({ index: i }, c));
  const BY_ID = new Map(CARDS.map((c) => [c.id, c]));
  const FILTER_KEY = STORE + "-filter-" + DATA.edition;

  // ------------------------------------------------------------------ progress (localStorage)
  let storageOk = true;
  function load() {
    try {
      const raw = window.localStorage.getItem(STORE);
      const p = raw ? JSON.parse(raw) : null;
      return p && p.cards && typeof p.cards === "object" ? p : { version: 1, cards: {} };
    } catch (e) {
      storageOk = false;
      return { version: 1, cards: {} };
    }
  }
  function save() {
    try {
      window.localStorage.setItem(STORE, JSON.stringify(progress));
    } catch (e) {
      storageOk = false;
      status.textContent = S.storage_error;
    }
  }
  let progress = load();

  // ------------------------------------------------------------------ the schedule (Leitner boxes)
  function waitFor(state, rating) {
    const box = state ? state.box : 0;
    if (rating === "again") return SCHED.again_minutes * MIN;
    if (rating === "hard") return Math.max(SCHED.again_minutes * MIN, SCHED.box_days[Math.max(1, box) - 1] * DAY * SCHED.hard_factor);
    return SCHED.box_days[Math.min(BOXES, box + 1) - 1] * DAY;
  }
  function schedule(state, rating, now) {
    const s = Object.assign({ box: 0, due: 0, reviews: 0, lapses: 0, last: null }, state || {});
    const box = rating === "again" ? 1 : rating === "hard" ? Math.max(1, s.box) : Math.min(BOXES, s.box + 1);
    return {
      box: box,
      due: now + waitFor(state, rating),
      reviews: s.reviews + 1,
      lapses: s.lapses + (rating === "again" ? 1 : 0),
      last: rating,
    };
  }
  function isDue(card, now) {
    const s = progress.cards[card.id];
    return !s || s.due <= now;
  }
  function humanWait(ms) {
    if (ms < HOUR) return fmt(S.minutes, { n: Math.max(1, Math.round(ms / MIN)) });
    if (ms < DAY) return fmt(S.hours, { n: Math.round(ms / HOUR) });
    return fmt(S.days, { n: Math.round((ms / DAY) * 10) / 10 });
  }

  // ------------------------------------------------------------------ filters and order
  let filter = "all";
  function inFilter(card) {
    if (filter === "all") return true;
    if (filter === "article") return card.article;
    if (filter === "newer") return card.section === DATA.newer;
    if (filter === "wrong") {
      const s = progress.cards[card.id];
      return !!s && s.last === "again";
    }
    const m = /^section:(\d+)$/.exec(filter);
    return !!m && card.section === Number(m[1]);
  }
  // Due reviews first (earliest due first), then new questions (in the chapter's order),
  // then the questions not due yet (earliest first).
  function order(now) {
    const rank = (c) => {
      const s = progress.cards[c.id];
      if (!s) return [1, 0, c.index];
      return s.due <= now ? [0, s.due, c.index] : [2, s.due, c.index];
    };
    return CARDS.filter(inFilter)
      .map((c) => [rank(c), c])
      .sort((a, b) => a[0][0] - b[0][0] || a[0][1] - b[0][1] || a[0][2] - b[0][2])
      .map((x) => x[1]);
  }

  const select = $("filter");
  function option(value, text, parent) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    (parent || select).appendChild(o);
  }
  option("all", S.filter_all);
  option("article", S.filter_article);
  if (DATA.newer !== null && DATA.newer !== undefined) option("newer", S.filter_newer);
  option("wrong", S.filter_wrong);
  const group = document.createElement("optgroup");
  group.label = S.filter_sections;
  DATA.sections.forEach((sec, i) => {
    if (!sec.article && i !== DATA.newer) option("section:" + i, sec.title, group);
  });
  select.appendChild(group);
  try {
    const saved = window.localStorage.getItem(FILTER_KEY);
    if (saved && Array.from(select.options).some((o) => o.value === saved)) filter = saved;
  } catch (e) { /* no storage: the default filter */ }
  select.value = filter;

  // ------------------------------------------------------------------ showing a card
  const cardEl = $("card"), doneEl = $("done"), meta = $("meta"), question = $("question");
  const answer = $("answer"), reveal = $("reveal"), rateGroup = $("rate"), chapter = $("chapter");
  let current = null, revealed = false, ahead = false, timer = null;

  // data-typeset is "pending" while any typesetting runs (the tests wait for "done").
  let typesetting = 0;
  function typeset(els) {
    typesetting += 1;
    root.dataset.typeset = "pending";
    const finish = () => {
      typesetting -= 1;
      if (typesetting === 0) root.dataset.typeset = "done";
    };
    const run = () => {
      const mj = window.MathJax;
      if (!mj || !mj.startup || !mj.startup.promise) { finish(); return; }
      mj.startup.promise
        .then(() => { if (mj.typesetClear) mj.typesetClear(els); return mj.typesetPromise(els); })
        .then(finish, (err) => { console.error("kd-practice: MathJax", err); finish(); });
    };
    // Before the page has loaded, MathJax's first pass typesets the card with the rest of the page.
    if (document.readyState === "complete") run(); else window.addEventListener("load", run, { once: true });
  }

  function updateDue(now) {
    const list = CARDS.filter(inFilter);
    const due = list.filter((c) => isDue(c, now));
    const fresh = due.filter((c) => !progress.cards[c.id]);
    $("due").textContent = fmt(S.due, { due: due.length, new: fresh.length, total: list.length });
  }

  function show(card) {
    clearTimeout(timer);
    current = card;
    revealed = false;
    const s = progress.cards[card.id];
    const box = s ? fmt(S.box, { box: s.box, boxes: BOXES }) : S.new;
    meta.textContent = fmt(S.meta, { id: card.id, section: DATA.sections[card.section].title, box: box });
    if (window.MathJax && window.MathJax.typesetClear) window.MathJax.typesetClear([question, answer]);
    question.innerHTML = card.question;
    answer.innerHTML = "";
    answer.classList.remove("kd-revealed");
    chapter.href = DATA.page + (card.anchor ? "#" + card.anchor : "");
    reveal.hidden = false;
    rateGroup.hidden = true;
    RATINGS.forEach((r) => {
      rateGroup.querySelector('[data-when="' + r + '"]').textContent = humanWait(waitFor(s, r));
    });
    cardEl.hidden = false;
    doneEl.hidden = true;
    root.dataset.card = card.id;
    root.dataset.revealed = "false";
    updateDue(Date.now());
    typeset([question]);
  }

  function showDone(now) {
    current = null;
    cardEl.hidden = true;
    doneEl.hidden = false;
    root.dataset.card = "";
    const list = order(now);
    const text = $("done-text");
    if (!list.length) {
      text.textContent = S.done_empty;
      $("keep-going").hidden = true;
    } else {
      const wait = progress.cards[list[0].id].due - now;
      text.textContent = fmt(S.done, { when: humanWait(wait) });
      $("keep-going").hidden = false;
      // Come back by itself when the next question falls due.
      timer = setTimeout(() => next(), Math.min(Math.max(wait, 0) + 50, 2147483647));
    }
    updateDue(now);
  }

  function next(avoid) {
    const now = Date.now();
    const list = order(now);
    const due = list.filter((c) => isDue(c, now) && c.id !== avoid);
    if (due.length) return show(due[0]);
    if (ahead && list.length) return show(list.find((c) => c.id !== avoid) || list[0]);
    if (list.length && isDue(list[0], now)) return show(list[0]);
    return showDone(now);
  }

  function doReveal() {
    if (!current || revealed) return;
    revealed = true;
    root.dataset.revealed = "true";
    answer.innerHTML = current.answer;
    answer.classList.add("kd-revealed");
    reveal.hidden = true;
    rateGroup.hidden = false;
    answer.focus({ preventScroll: true });
    typeset([answer]);
  }

  function rate(rating) {
    if (!current || !revealed) return;
    const now = Date.now();
    progress.cards[current.id] = schedule(progress.cards[current.id], rating, now);
    save();
    next(current.id);
    if (current) question.focus({ preventScroll: false });
  }

  function move(step) {
    const now = Date.now();
    const list = order(now);
    if (!list.length) return;
    if (!current) return show(list[0]);
    const i = list.findIndex((c) => c.id === current.id);
    show(list[(i + step + list.length) % list.length]);
  }

  // ------------------------------------------------------------------ controls
  reveal.addEventListener("click", doReveal);
  rateGroup.addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-rating]");
    if (b) rate(b.dataset.rating);
  });
  $("prev").addEventListener("click", () => move(-1));
  $("next").addEventListener("click", () => move(1));
  $("keep-going").addEventListener("click", () => { ahead = true; next(); });
  select.addEventListener("change", () => {
    filter = select.value;
    ahead = false;
    try { window.localStorage.setItem(FILTER_KEY, filter); } catch (e) { /* kept for this visit */ }
    next();
  });

  document.addEventListener("keydown", (ev) => {
    if (ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const t = ev.target instanceof Element ? ev.target : null;
    if (t && t.closest("input, select, textarea, [contenteditable], dialog")) return;
    const k = ev.key;
    if (k === " " || k === "Spacebar") {
      if (!current || revealed) return;
      if (t && t.closest("button, a, summary") && t !== reveal) return; // Space presses that button
      ev.preventDefault();
      doReveal();
    } else if (k === "1" || k === "2" || k === "3") {
      if (!current || !revealed) return;
      ev.preventDefault();
      rate(RATINGS[Number(k) - 1]);
    } else if (k === "ArrowRight" || k === "ArrowLeft") {
      ev.preventDefault();
      move(k === "ArrowRight" ? 1 : -1);
    }
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") updateDue(Date.now());
  });

  // ------------------------------------------------------------------ export, import, reset
  function download(name, type, text) {
    const url = URL.createObjectURL(new Blob([text], { type: type }));
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  $("export").addEventListener("click", () => {
    const out = { format: FORMAT, version: 1, exported: new Date(Date.now()).toISOString(), cards: progress.cards };
    download("kd-book-practice-progress.json", "application/json", JSON.stringify(out, null, 1) + "\n");
  });

  // Anki imports a tab-separated file whose first lines describe it (Anki 2.1.55 and later).
  function ankiField(html) {
    const flat = String(html)
      .replace(/<pre([^>]*)>([\s\S]*?)<\/pre>/g, (m, a, body) => "<pre" + a + ">" + body.replace(/\n/g, "<br>") + "</pre>")
      .replace(/[\t\r\n]+/g, " ");
    return '"' + flat.replace(/"/g, '""') + '"';
  }
  function ankiTag(text) {
    return String(text).trim().replace(/\s+/g, "_");
  }
  function ankiFile() {
    const lines = ["#separator:tab", "#html:true", "#columns:Question\tAnswer\tSection\tTags", "#tags column:4"];
    CARDS.forEach((c) => {
      const section = DATA.sections[c.section].title;
      const tags = ["kd-book", "kd-book::" + c.id, "kd-book::" + ankiTag(section)];
      if (c.article) tags.push("kd-book::article");
      if (c.section === DATA.newer) tags.push("kd-book::newer");
      const q = c.id + ". " + c.question + ' <a href="' + DATA.page_url + (c.anchor ? "#" + c.anchor : "") + '">↗</a>';
      lines.push([ankiField(q), ankiField(c.anki), ankiField(section), ankiField(tags.join(" "))].join("\t"));
    });
    return lines.join("\n") + "\n";
  }
  $("anki").addEventListener("click", () => {
    download("kd-book-anki-" + DATA.edition + ".tsv", "text/tab-separated-values", ankiFile());
  });

  function validate(obj) {
    if (!obj || typeof obj !== "object" || obj.format !== FORMAT || !obj.cards || typeof obj.cards !== "object") {
      throw new Error(S.import_not_progress);
    }
    const unknown = Object.keys(obj.cards).filter((id) => !BY_ID.has(id));
    if (unknown.length) throw new Error(fmt(S.import_unknown, { ids: unknown.join(", ") }));
    const clean = {};
    for (const [id, s] of Object.entries(obj.cards)) {
      const ok = s && Number.isInteger(s.box) && s.box >= 1 && s.box <= BOXES && Number.isFinite(s.due)
        && Number.isInteger(s.reviews) && s.reviews >= 0 && Number.isInteger(s.lapses) && s.lapses >= 0
        && (s.last === null || RATINGS.includes(s.last));
      if (!ok) throw new Error(fmt(S.import_bad_entry, { id: id }));
      clean[id] = { box: s.box, due: s.due, reviews: s.reviews, lapses: s.lapses, last: s.last };
    }
    return clean;
  }
  const fileInput = $("import-file");
  $("import").addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    const file = fileInput.files && fileInput.files[0];
    if (!file) return;
    file.text().then((text) => {
      let obj;
      try { obj = JSON.parse(text); } catch (e) { throw new Error(S.import_not_json); }
      progress = { version: 1, cards: validate(obj) };
      save();
      ahead = false;
      next();
      status.textContent = fmt(S.imported, { n: Object.keys(progress.cards).length, file: file.name });
    }).catch((err) => {
      status.textContent = fmt(S.import_error, { file: file.name, reason: err.message });
    }).finally(() => { fileInput.value = ""; });
  });

  const confirmBox = $("reset-confirm");
  $("reset").addEventListener("click", () => { confirmBox.hidden = false; $("reset-no").focus(); });
  $("reset-no").addEventListener("click", () => { confirmBox.hidden = true; $("reset").focus(); });
  $("reset-yes").addEventListener("click", () => {
    progress = { version: 1, cards: {} };
    save();
    confirmBox.hidden = true;
    ahead = false;
    next();
    status.textContent = S.reset_done;
    $("reset").focus();
  });

  if (!storageOk) status.textContent = S.storage_error;
  root.dataset.ready = "true";
  next();
})();
