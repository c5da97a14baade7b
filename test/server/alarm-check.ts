import assert from 'node:assert/strict';
import { ALARM_SIGNALS } from '../../eval/alarm-maths.js';

/** The alarm object every search answers with: present and well-formed. */
export function checkAlarm(a: any, what: string): void {
  assert.ok(a && typeof a === 'object', `${what}: alarm object`);
  assert.ok(['ready', 'preparing', 'off', 'unsupported', 'failed'].includes(a.state), `${what}: state ${a.state}`);
  assert.equal(typeof a.flagged, 'boolean');
  assert.ok(a.score === null || Number.isFinite(a.score));
  assert.ok(a.threshold === null || Number.isFinite(a.threshold));
  assert.deepEqual(Object.keys(a.signals).sort(), [...ALARM_SIGNALS].sort());
  for (const v of Object.values(a.signals)) assert.ok(v === null || (typeof v === 'number' && v >= 0));
  assert.equal(typeof a.reason, 'string');
  assert.ok(a.reason.length > 0 && !a.reason.includes('\n'));
  assert.ok(Number.isInteger(a.k));
  assert.equal(a.tookMs, undefined, 'the same query gets the same alarm object (its time is in /metrics)');
}
