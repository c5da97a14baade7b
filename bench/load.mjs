/**
 * A tiny closed-loop HTTP load generator, run as its own process so that the load does not
 * share an event loop with the server or the bench: `concurrency` loops, each sending GETs one
 * after another over a keep-alive connection for `seconds`, paths taken round-robin from the
 * list (or made unique by appending `-<n>` to the `q` of a template when `unique` is set).
 *
 *   node bench/load.mjs '<json: {url, paths, concurrency, seconds, unique?, warmup?, timeline?}>'
 *
 * Prints one JSON line: requests, errors (non-200 or socket errors, with a few samples),
 * requests/s, latency percentiles in ms; with `timeline`, also every request as
 * [start, end, status] (epoch milliseconds, comparable across processes on one machine), so a
 * caller can take the percentiles of the requests that overlapped a window (a hot swap).
 */
import http from 'node:http';

const cfg = JSON.parse(process.argv[2]);
const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.concurrency });
const base = new URL(cfg.url);
let next = 0;
let unique = cfg.uniqueStart ?? 0;

function pathFor() {
  const p = cfg.paths[next++ % cfg.paths.length];
  if (!cfg.unique) return p;
  return p.replace(/(q=[^&]*)/, `$1+${(unique++).toString(36)}`);
}

const epoch = () => performance.timeOrigin + performance.now();

function get(path) {
  return new Promise((resolve) => {
    const t = process.hrtime.bigint();
    const at = epoch();
    const req = http.get({ host: base.hostname, port: base.port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t) / 1e6, status: res.statusCode, at }));
      res.on('error', (e) => resolve({ ms: 0, status: 0, err: e.message }));
    });
    req.on('error', (e) => resolve({ ms: 0, status: 0, err: e.message }));
  });
}

async function phase(seconds, record) {
  const lat = [];
  const errors = [];
  const timeline = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: cfg.concurrency }, async () => {
      while (performance.now() < end) {
        const r = await get(pathFor());
        if (!record) continue;
        if (cfg.timeline && r.at) timeline.push([+r.at.toFixed(2), +(r.at + r.ms).toFixed(2), r.status]);
        if (r.status === 200) lat.push(r.ms);
        else errors.push(r.err ?? `HTTP ${r.status}`);
      }
    }),
  );
  return { lat, errors, timeline, seconds: (performance.now() - t0) / 1000 };
}

if (cfg.warmup) await phase(cfg.warmup, false);
const { lat, errors, timeline, seconds } = await phase(cfg.seconds, true);
lat.sort((a, b) => a - b);
const pct = (p) => (lat.length ? +lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))].toFixed(3) : null);
const samples = [...new Set(errors)].slice(0, 5);
process.stdout.write(
  JSON.stringify({
    concurrency: cfg.concurrency,
    requests: lat.length + errors.length,
    errors: errors.length,
    errorSamples: samples,
    seconds: +seconds.toFixed(2),
    rps: +((lat.length + errors.length) / seconds).toFixed(1),
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: lat.length ? +lat[lat.length - 1].toFixed(3) : null,
    ...(cfg.timeline ? { timeline } : {}),
  }) + '\n',
);
agent.destroy();
