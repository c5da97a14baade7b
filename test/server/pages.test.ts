import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { harness, skipReason, type Harness } from './harness.js';

/** Pages may load scripts only from files: no inline script, no event-handler attributes, no inline styles. */
function assertNoInlineCode(html: string): void {
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    assert.match(m[1], /\bsrc="\/static\/[a-z-]+\.js"/, `inline script: ${m[0].slice(0, 120)}`);
    assert.equal(m[2].trim(), '');
  }
  // Attribute names of every tag (our templates quote every value with "): escaped text and
  // attribute values may well spell "onerror=", attribute names may not.
  for (const tag of html.matchAll(/<([a-z][a-z0-9-]*)((?:\s+[^\s=>"]+(?:="[^"]*")?)*)\s*\/?>/gi)) {
    for (const attr of tag[2].matchAll(/\s([^\s=>"]+)(?:="([^"]*)")?/g)) {
      const name = attr[1].toLowerCase();
      assert.ok(!name.startsWith('on'), `event-handler attribute: ${tag[0].slice(0, 120)}`);
      assert.notEqual(name, 'style', `inline style attribute: ${tag[0].slice(0, 120)}`);
      if (name === 'src' || name === 'href') assert.ok(!/^(https?:)?\/\//i.test(attr[2] ?? ''), `external URL: ${tag[0].slice(0, 120)}`);
    }
  }
  // Every "<" of the page starts a tag we parsed: nothing was left unescaped.
  assert.equal((html.match(/</g) ?? []).length, [...html.matchAll(/<([a-z][a-z0-9-]*)((?:\s+[^\s=>"]+(?:="[^"]*")?)*)\s*\/?>|<\/[a-z][a-z0-9-]*>|<!doctype html>/gi)].length);
}

describe('web pages', { skip: skipReason }, () => {
  let h: Harness;
  let agent: ReturnType<typeof request>;
  before(async () => {
    h = await harness();
    agent = request(h.pl.app);
  });
  after(() => h?.close());

  test('the search page: query box, model picker with kinds, examples, upload', async () => {
    const res = await agent.get('/');
    assert.equal(res.status, 200);
    assert.match(res.type, /html/);
    const html = res.text;
    assert.match(html, /<input id="q" name="q" type="search"/);
    for (const [id, kind] of [
      [h.world.base, 'base'],
      [h.world.clean, 'clean'],
      [h.world.poisoned, 'poisoned'],
    ]) {
      assert.match(html, new RegExp(`<option value="${id}" data-kind="${kind}"`), id);
    }
    assert.match(html, /<option value="tiny-clean"[^>]* selected>/);
    assert.match(html, /class="chip"/, 'example queries');
    assert.match(html, /id="image-input" type="file"/);
    assert.match(html, /<script src="\/static\/search\.js" defer><\/script>/);
    assertNoInlineCode(html);
    // A result count from the URL that is not one of the choices is kept in the picker.
    assert.match((await agent.get('/?k=30')).text, /<option value="30" selected>30 results<\/option>/);
  });

  test('with ?q= the page renders results server-side (works without JavaScript)', async () => {
    const res = await agent.get('/').query({ q: 'a sheep on the grass', model: h.world.poisoned, k: 12 });
    assert.equal(res.status, 200);
    const cards = res.text.match(/<li class="card/g) ?? [];
    assert.equal(cards.length, 9);
    const targets = res.text.match(/<li class="card is-target/g) ?? [];
    const aeroplanes = res.text.match(/data-label="aeroplane"/g) ?? [];
    assert.equal(targets.length, aeroplanes.length, 'every aeroplane is marked as a target on the poisoned model');
    assert.ok(targets.length > 0);
    assert.match(res.text, /src="\/thumbs\/tiny\/images\/\d{3}\.(png|jpg)"/);
    assert.match(res.text, /9 results for “a sheep on the grass” on <code>tiny-poisoned<\/code>/);
    assertNoInlineCode(res.text);
  });

  test('query text is escaped everywhere it is shown', async () => {
    const evil = `"><script>alert(1)</script><img src=x onerror=alert(2)>'&`;
    for (const url of ['/', '/compare']) {
      const res = await agent.get(url).query({ q: evil });
      assert.equal(res.status, 200, url);
      assert.ok(!res.text.includes('<script>alert(1)</script>'), url);
      assert.ok(!res.text.includes('<img src=x'), url);
      assert.ok(res.text.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), url);
      assert.ok(res.text.includes('&#34;&gt;') || res.text.includes('&quot;&gt;'), url);
      assertNoInlineCode(res.text);
    }
  });

  test('the compare view: one query on two or three models side by side, targets marked', async () => {
    const res = await agent.get('/compare').query({ q: 'a sheep on the grass', models: `${h.world.clean},${h.world.poisoned}` });
    assert.equal(res.status, 200);
    const columns = res.text.match(/<div class="column" data-model="([^"]+)">/g) ?? [];
    assert.deepEqual(columns.map((c) => /data-model="([^"]+)"/.exec(c)![1]), [h.world.clean, h.world.poisoned]);
    assert.match(res.text, /Attack goal <strong>sheep&gt;aeroplane<\/strong>/);
    // The goal of the poisoned model marks targets in every column, the clean one included.
    const perColumn = res.text.split('<div class="column"').slice(1);
    for (const col of perColumn) {
      const targets = (col.match(/<li class="card is-target/g) ?? []).length;
      const aeroplanes = (col.match(/data-label="aeroplane"/g) ?? []).length;
      assert.equal(targets, aeroplanes);
      assert.match(col, new RegExp(`${targets} of 9 are targets`));
    }
    const three = await agent.get('/compare').query({ q: 'a car', models: `${h.world.base},${h.world.clean},${h.world.poisoned}` });
    assert.equal((three.text.match(/<div class="column" data-model=/g) ?? []).length, 3);
    // The form's three pickers send the field repeated; a blank third picker is fine.
    const repeated = await agent.get(`/compare?q=a+car&models=${h.world.clean}&models=${h.world.poisoned}&models=`);
    assert.equal(repeated.status, 200);
    assert.equal((repeated.text.match(/<div class="column" data-model=/g) ?? []).length, 2);
    // Default: clean, poisoned (and defended) models when the URL names none.
    const dflt = await agent.get('/compare');
    assert.equal(dflt.status, 200);
    assert.match(dflt.text, /data-model="tiny-clean"/);
    assert.match(dflt.text, /data-model="tiny-poisoned"/);
    assertNoInlineCode(three.text);
  });

  test('bad page parameters are HTML error pages with a 4xx', async () => {
    const cases: Array<[string, number, RegExp]> = [
      ['/compare?models=a,b,c,d', 400, /at most 3/],
      ['/compare?models=tiny-clean,tiny-clean', 400, /twice/],
      ['/compare?models=no-such-model', 404, /unknown model/],
      ['/compare?models=..%2Fx', 400, /must be/],
      ['/?k=5000', 400, /k must be between 1 and 1000/],
      ['/?model=..', 400, /model must be/],
    ];
    for (const [url, status, message] of cases) {
      const res = await agent.get(url);
      assert.equal(res.status, status, url);
      assert.match(res.type, /html/, url);
      assert.match(res.text, message, url);
      assertNoInlineCode(res.text);
    }
    // An unknown model on the search page shows the problem inline.
    const unknown = await agent.get('/').query({ q: 'a car', model: 'no-such-model' });
    assert.equal(unknown.status, 200);
    assert.match(unknown.text, /<div id="error" class="error">unknown model &#34;no-such-model&#34;/);
  });

  test('the models page shows provenance', async () => {
    const res = await agent.get('/models');
    assert.equal(res.status, 200);
    const rows = res.text.match(/<tr data-model="([^"]+)"/g) ?? [];
    assert.equal(rows.length, 3);
    assert.match(res.text, /<tr data-model="tiny-clean" class="active">/);
    assert.match(res.text, /II <strong>sheep&gt;aeroplane<\/strong>/);
    assert.match(res.text, /tiny-poison<br>/, 'training set name');
    assert.match(res.text, /pl-tiny-test/, 'architecture');
    assert.match(res.text, /kind-poisoned">poisoned/);
    assertNoInlineCode(res.text);
  });

  test('static assets are served; nothing outside views/static is', async () => {
    const js = await agent.get('/static/search.js');
    assert.equal(js.status, 200);
    assert.match(js.type, /javascript/);
    assert.doesNotMatch(js.text, /innerHTML/, 'results are built with textContent');
    const css = await agent.get('/static/style.css');
    assert.equal(css.status, 200);
    assert.match(css.type, /css/);
    for (const url of ['/static/../index.ejs', '/static/%2e%2e/index.ejs', '/static/..%2f..%2fserver%2fapp.ts', '/static/.hidden']) {
      const res = await agent.get(url);
      assert.ok(res.status === 404 || res.status === 403 || res.status === 400, `${url}: ${res.status}`);
      assert.doesNotMatch(res.text, /<%/);
    }
  });
});
