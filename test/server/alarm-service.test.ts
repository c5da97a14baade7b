import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import request from 'supertest';
import { ALARM_DEFAULTS } from '../../server/services/alarm-service.js';
import { CALIBRATION_FORMAT } from '../../eval/alarm-runtime.js';
import { checkAlarm } from './alarm-check.js';
import { harness, samplePng, skipReason, type Harness } from './harness.js';

/**
 * The poisoning alarm through the API on the server test world (whose "poisoned" model is barely
 * fine-tuned: alarm-browser.test.ts checks verdicts on a model that is really poisoned): every
 * search carries a well-formed alarm object; the calibration is recorded and shown; the
 * clip-retrieval response stays a list; /metrics counts.
 */

describe('the poisoning alarm in the API (server test world)', { skip: skipReason }, () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => {
    await h?.close();
  });

  test('a server with no alarm settings answers every text search with a scored alarm', async () => {
    const res = await request(h.pl.app).get('/api/search').query({ q: 'a sheep on the grass', k: 1 }).expect(200);
    assert.equal(res.body.results.length, 1, 'the alarm looks at its own top-K; the caller gets k');
    checkAlarm(res.body.alarm, '/api/search');
    assert.equal(res.body.alarm.state, 'ready');
    assert.equal(res.body.alarm.reference, h.world.base, "the reference: the served model's base ancestor");
    assert.equal(res.body.alarm.trusted, h.world.clean);
    assert.equal(res.body.alarm.k, 1, 'at most a twelfth of the 9-image gallery, at least 1');
    assert.ok(res.body.alarm.score !== null && res.body.alarm.threshold !== null);
    assert.equal(typeof res.body.alarm.signals.reference, 'number');
    assert.equal(typeof res.body.alarm.signals.words, 'number');
    // Every model: the base is its own reference, so only the captions signal is there.
    const onBase = await request(h.pl.app).get('/api/search').query({ q: 'a car on the road', model: h.world.base }).expect(200);
    checkAlarm(onBase.body.alarm, 'base');
    assert.equal(onBase.body.alarm.reference, null);
    assert.equal(onBase.body.alarm.signals.reference, null);
    const onPoisoned = await request(h.pl.app).get('/api/search').query({ q: 'a car on the road', model: h.world.poisoned }).expect(200);
    checkAlarm(onPoisoned.body.alarm, 'poisoned');
    assert.equal(onPoisoned.body.alarm.reference, h.world.base);
  });

  test('image searches say they are not scored', async () => {
    const res = await request(h.pl.app).post('/api/search/image').set('Content-Type', 'image/png').send(await samplePng()).expect(200);
    checkAlarm(res.body.alarm, 'image search');
    assert.equal(res.body.alarm.state, 'unsupported');
    assert.equal(res.body.alarm.score, null);
  });

  test('the calibration is recorded in the workspace and shown by GET /api/alarm', async () => {
    const res = await request(h.pl.app).get('/api/alarm').expect(200);
    assert.equal(res.body.state, 'ready');
    assert.equal(res.body.model, h.world.clean);
    assert.equal(res.body.reference, h.world.base);
    const cal = res.body.calibration;
    assert.deepEqual(cal.trusted, [h.world.clean]);
    assert.equal(cal.fpr, ALARM_DEFAULTS.fpr);
    assert.equal(cal.queries, 18, "every caption of the 9 test images (fewer than the sample's 500)");
    assert.ok(existsSync(cal.path), cal.path);
    const rec = JSON.parse(readFileSync(cal.path, 'utf8'));
    assert.equal(rec.format, CALIBRATION_FORMAT);
    assert.deepEqual(rec.thresholds, cal.thresholds);
    assert.ok(cal.path.startsWith(h.ws.root));
    for (const key of Object.keys(cal.thresholds)) assert.ok(cal.flaggedRate[key] <= 0.06, `${key}: ${cal.flaggedRate[key]}`);
    await request(h.pl.app).get('/api/alarm').query({ model: 'no-such-model' }).expect(404);
    await request(h.pl.app).get('/api/alarm').query({ nope: '1' }).expect(400);
  });

  test('clip-retrieval: the response stays a list; the first result carries the alarm', async () => {
    const res = await request(h.pl.app)
      .post('/knn-service')
      .set('Content-Type', 'text/plain')
      .send(JSON.stringify({ text: 'a sheep on the grass', image: null, image_url: null, embedding_input: null, modality: 'image', num_images: 2, indice_name: `${h.world.clean}/${h.world.dataset}`, num_result_ids: 5, use_mclip: false, deduplicate: false, use_safety_model: false, use_violence_detector: false, aesthetic_score: '', aesthetic_weight: '0.5' }))
      .expect(200);
    assert.ok(Array.isArray(res.body));
    assert.equal(res.body.length, 5);
    checkAlarm(res.body[0].alarm, 'knn-service');
    assert.equal(res.body[0].alarm.state, 'ready');
    res.body.slice(1).forEach((r: any) => assert.equal(r.alarm, undefined));
    res.body.slice(2).forEach((r: any) => assert.deepEqual(Object.keys(r).sort(), ['id', 'similarity']));
  });

  test('/metrics counts scored and flagged queries by model', async () => {
    const text = (await request(h.pl.app).get('/metrics').expect(200)).text;
    assert.match(text, new RegExp(`poisonlens_alarm_queries_total\\{model="${h.world.clean}",state="ready"\\} \\d+`));
    assert.match(text, new RegExp(`poisonlens_alarm_queries_total\\{model="${h.world.clean}",state="unsupported"\\} 1`));
    assert.match(text, new RegExp(`poisonlens_alarm_flagged_total\\{model="${h.world.clean}"\\} \\d+`));
    assert.match(text, /poisonlens_alarm_seconds_count [1-9]\d*/);
  });

  test('the search page and the compare view show the verdict', async () => {
    const page = await request(h.pl.app).get('/').query({ q: 'a sheep on the grass' }).expect(200);
    assert.match(page.text, /<div class="alarm alarm-ready[^"]*" data-alarm-state="ready" data-alarm-flagged="[01]"/);
    const compare = await request(h.pl.app).get('/compare').query({ q: 'a sheep on the grass', models: `${h.world.clean},${h.world.poisoned}` }).expect(200);
    assert.equal((compare.text.match(/data-alarm-state="ready"/g) ?? []).length, 2);
  });
});

describe('the alarm switched off', { skip: skipReason }, () => {
  test('POISONLENS_ALARM=0: every search still carries the alarm object, state off', async () => {
    const h = await harness({ alarm: { ...ALARM_DEFAULTS, enabled: false } });
    try {
      const res = await request(h.pl.app).get('/api/search').query({ q: 'a sheep on the grass' }).expect(200);
      checkAlarm(res.body.alarm, 'off');
      assert.equal(res.body.alarm.state, 'off');
      assert.equal(res.body.alarm.flagged, false);
      const info = await request(h.pl.app).get('/api/alarm').expect(200);
      assert.equal(info.body.enabled, false);
    } finally {
      await h.close();
    }
  });
});
