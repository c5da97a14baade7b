// The search page's script: searches without reloading (text, example chips, model switch,
// image upload and drag-and-drop) through the JSON API. No framework, and no markup is built
// from strings: every piece of text reaches the page through textContent or an attribute, so
// nothing the server or the user sent is ever parsed as HTML.
(function () {
  'use strict';
  var form = document.getElementById('search-form');
  if (!form) return;
  var q = document.getElementById('q');
  var model = document.getElementById('model');
  var dataset = document.getElementById('dataset');
  var k = document.getElementById('k');
  var upload = document.getElementById('image-input');
  var statusEl = document.getElementById('status');
  var errorEl = document.getElementById('error');
  var results = document.getElementById('results');
  var modelLine = document.getElementById('model-line');
  var dropZone = document.getElementById('drop-zone');
  var alarmSlot = document.getElementById('alarm-slot');
  var current = null; // the in-flight request, so a newer search cancels an older one
  var lastImage = null; // the last uploaded File, so switching model re-runs an image search

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function params() {
    var p = new URLSearchParams();
    if (model && model.value) p.set('model', model.value);
    if (dataset && dataset.value) p.set('dataset', dataset.value);
    if (k && k.value) p.set('k', k.value);
    return p;
  }

  function showError(message) {
    errorEl.textContent = message;
    errorEl.hidden = !message;
  }

  function setStatus(parts, loading) {
    statusEl.replaceChildren.apply(statusEl, parts);
    statusEl.classList.toggle('loading', Boolean(loading));
  }

  function kindBadge(kind) {
    var known = ['base', 'clean', 'poisoned', 'defended'];
    return el('span', 'kind kind-' + (known.indexOf(kind) >= 0 ? kind : 'other'), kind || 'unknown');
  }

  function updateModelLine() {
    if (!model || !modelLine) return;
    var opt = model.options[model.selectedIndex];
    if (!opt) return;
    var text = el('span');
    text.append(el('code', '', opt.value));
    var goal = opt.getAttribute('data-goal');
    if (goal) {
      text.append(' · attack ');
      text.append(el('strong', '', goal));
    }
    modelLine.replaceChildren(kindBadge(opt.getAttribute('data-kind')), text);
  }

  function card(r) {
    var li = el('li', 'card' + (r.target ? ' is-target' : '') + (r.poisoned ? ' is-poisoned' : ''));
    li.setAttribute('data-image-id', r.imageId);
    li.setAttribute('data-label', r.label || '');
    var a = el('a', 'thumb');
    a.href = r.url;
    a.target = '_blank';
    a.rel = 'noopener';
    a.title = (r.captions || []).join('\n');
    var img = el('img');
    img.src = r.thumbUrl;
    img.alt = (r.captions && r.captions[0]) || r.label || r.imageId;
    img.loading = 'lazy';
    img.width = 160;
    img.height = 160;
    a.append(img);
    li.append(a, el('span', 'rank', '#' + r.rank));
    if (r.target) {
      var t = el('span', 'badge target', 'target');
      t.title = "an image of the attack's target class";
      li.append(t);
    }
    if (r.poisoned) li.append(el('span', 'badge poisoned', 'poison'));
    var meta = el('div', 'meta');
    meta.append(el('span', 'label', r.label || '—'), el('span', 'score', Number(r.score).toFixed(3)));
    li.append(meta, el('div', 'caption', (r.captions && r.captions[0]) || ''));
    return li;
  }

  function num(v, digits) {
    return v === null || v === undefined ? '—' : Number(v).toFixed(digits);
  }

  // The poisoning alarm's verdict: the same markup as views/partials/alarm.ejs.
  function renderAlarm(a) {
    if (!alarmSlot) return;
    if (!a) {
      alarmSlot.replaceChildren();
      return;
    }
    var box = el('div', 'alarm alarm-' + a.state + (a.flagged ? ' flagged' : ''));
    box.setAttribute('data-alarm-state', a.state);
    box.setAttribute('data-alarm-flagged', a.flagged ? '1' : '0');
    box.setAttribute('data-alarm-score', a.score === null ? '' : String(a.score));
    var sig = a.signals || {};
    box.title =
      'poisoning alarm: score ' + num(a.score, 2) + ', threshold ' + num(a.threshold, 2) +
      '; signals: reference ' + num(sig.reference, 3) + ', captions ' + num(sig.captions, 3) +
      (a.reference ? '; reference model ' + a.reference : '');
    if (a.flagged) {
      var badge = el('span', 'alarm-badge', 'Poisoning alarm');
      badge.setAttribute('role', 'alert');
      box.append(badge, ' ', el('span', 'alarm-reason', a.reason));
    } else if (a.state === 'ready' && a.score !== null) {
      box.append(el('span', 'alarm-ok', 'alarm: not flagged'), ' ', el('span', 'muted', '(score ' + num(a.score, 2) + ' ≤ ' + num(a.threshold, 2) + ')'));
    } else {
      box.append(el('span', 'muted', 'alarm: ' + a.reason));
    }
    alarmSlot.replaceChildren(box);
  }

  function render(data, label, preview) {
    renderAlarm(data.alarm);
    var ol = el('ol', 'grid');
    data.results.forEach(function (r) {
      ol.append(card(r));
    });
    results.replaceChildren(ol);
    var parts = [];
    if (preview) parts.push(preview);
    var line = el('span');
    line.append(data.results.length + ' results for ' + label + ' on ');
    line.append(el('code', '', data.model));
    line.append(' (' + (data.modelKind || 'unknown') + ') over ' + data.dataset + '/' + data.split + ' in ' + data.tookMs + ' ms');
    parts.push(line);
    setStatus(parts, false);
  }

  async function call(url, init) {
    if (current) current.abort();
    var ctrl = new AbortController();
    current = ctrl;
    init = init || {};
    init.signal = ctrl.signal;
    init.headers = Object.assign({ Accept: 'application/json' }, init.headers || {});
    try {
      var res = await fetch(url, init);
      var body = await res.json().catch(function () {
        return null;
      });
      if (!res.ok) throw new Error((body && body.error && body.error.message) || 'the server answered ' + res.status);
      return body;
    } finally {
      if (current === ctrl) current = null;
    }
  }

  async function textSearch(push) {
    var text = q.value.trim();
    if (!text) return;
    lastImage = null;
    var p = params();
    p.set('q', text);
    showError('');
    setStatus([el('span', '', 'Searching…')], true);
    try {
      var data = await call('/api/search?' + p.toString());
      render(data, '“' + data.query + '”');
      var pageParams = params();
      pageParams.set('q', text);
      if (push) history.pushState({ q: text }, '', '/?' + pageParams.toString());
      document.title = text + ' — PoisonLens';
    } catch (err) {
      if (err.name === 'AbortError') return;
      setStatus([], false);
      showError(err.message);
    }
  }

  async function imageSearch(file) {
    if (!file) return;
    lastImage = file;
    showError('');
    var preview = el('img', 'preview');
    preview.src = URL.createObjectURL(file);
    preview.alt = 'your image';
    setStatus([preview, el('span', '', 'Searching by image…')], true);
    try {
      var data = await call('/api/search/image?' + params().toString(), {
        method: 'POST',
        headers: { 'Content-Type': file.type || 'application/octet-stream' },
        body: file,
      });
      render(data, 'your image “' + file.name + '”', preview);
    } catch (err) {
      if (err.name === 'AbortError') return;
      setStatus([preview], false);
      showError(err.message);
    }
  }

  function rerun() {
    if (lastImage) imageSearch(lastImage);
    else if (q.value.trim()) textSearch(true);
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    textSearch(true);
  });
  if (model)
    model.addEventListener('change', function () {
      updateModelLine();
      rerun();
    });
  if (k) k.addEventListener('change', rerun);
  if (dataset) dataset.addEventListener('change', rerun);
  upload.addEventListener('change', function () {
    if (upload.files && upload.files[0]) imageSearch(upload.files[0]);
    upload.value = '';
  });
  document.getElementById('examples').addEventListener('click', function (e) {
    var chip = e.target.closest('.chip');
    if (!chip) return;
    e.preventDefault();
    q.value = chip.getAttribute('data-q') || chip.textContent;
    textSearch(true);
  });
  window.addEventListener('popstate', function () {
    var p = new URLSearchParams(location.search);
    q.value = p.get('q') || '';
    if (p.get('model') && model) model.value = p.get('model');
    updateModelLine();
    if (q.value) textSearch(false);
  });
  if (dropZone) {
    ['dragenter', 'dragover'].forEach(function (t) {
      dropZone.addEventListener(t, function (e) {
        e.preventDefault();
        dropZone.classList.add('drag');
      });
    });
    ['dragleave', 'drop'].forEach(function (t) {
      dropZone.addEventListener(t, function (e) {
        e.preventDefault();
        dropZone.classList.remove('drag');
      });
    });
    dropZone.addEventListener('drop', function (e) {
      var f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
      if (f) imageSearch(f);
    });
  }
  document.body.setAttribute('data-ready', '1');
})();
