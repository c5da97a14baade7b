// The build banner: while `poisonlens up` builds the default world, every page shows which
// step runs and how far it is (from GET /api/build), and offers a reload when a new model is
// ready. Text goes in through textContent only.
(function () {
  'use strict';
  var banner = null;
  var seenDone = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function render(status) {
    if (!banner) {
      banner = el('section', 'build-banner');
      banner.id = 'build-banner';
      banner.setAttribute('aria-live', 'polite');
      var main = document.querySelector('main') || document.body;
      main.insertBefore(banner, main.firstChild);
    }
    var parts = [];
    var title = status.state === 'failed' ? 'Building the default world failed: ' + (status.error || '') : status.state === 'done' ? 'The default world is ready.' : 'Building the default world…';
    parts.push(el('strong', '', title));
    var list = el('ol', 'build-steps');
    status.steps.forEach(function (s) {
      var li = el('li', 'build-step build-' + s.state);
      li.append(el('span', 'build-title', s.title));
      var pct = s.state === 'running' && typeof s.progress === 'number' ? ' ' + Math.round(s.progress * 100) + '%' : '';
      li.append(el('span', 'build-state', (s.state === 'skipped' ? 'ready' : s.state) + pct + (s.state === 'running' && s.detail ? ' · ' + s.detail : '')));
      if (s.state === 'running' && typeof s.progress === 'number') {
        var bar = el('progress');
        bar.max = 1;
        bar.value = s.progress;
        li.append(bar);
      }
      list.append(li);
    });
    parts.push(list);
    var done = status.steps.filter(function (s) { return s.state === 'done'; }).length;
    if (seenDone !== null && done > seenDone) {
      var reload = el('button', 'primary', 'New models are ready: reload');
      reload.type = 'button';
      reload.addEventListener('click', function () { location.reload(); });
      parts.push(reload);
    } else if (seenDone === null) {
      seenDone = done;
    }
    banner.replaceChildren.apply(banner, parts);
  }

  async function poll() {
    try {
      var res = await fetch('/api/build', { headers: { accept: 'application/json' } });
      if (!res.ok) return;
      var status = await res.json();
      if (!status || !status.steps || status.state === 'idle') return;
      if (status.state === 'done' && !banner) return; // nothing to report on a finished world
      render(status);
      if (status.state === 'running') setTimeout(poll, 3000);
    } catch (e) {
      setTimeout(poll, 10000);
    }
  }
  poll();
})();
