import type { ModelRegistry } from './model-registry-service.js';

/** Latency buckets in seconds: fine below 10 ms, where searches live, coarse above. */
const BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram {
  labels: string;
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A minimal Prometheus registry: request counts and latency histograms per route and model,
 * plus gauges read from the model registry when scraped. Label values come from the route
 * pattern and model ids (bounded sets), never from raw URLs.
 */
export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private readonly started = Date.now();
  /** Alarm verdicts by model and state, and flagged queries by model (the poisoning alarm). */
  private readonly alarmQueries = new Map<string, number>();
  private readonly alarmFlagged = new Map<string, number>();
  /** The alarm's own time (from before the query is embedded to its verdict), summed. */
  private alarmSeconds = 0;
  private alarmCount = 0;

  /** Counts one search's alarm verdict and the alarm's time for it. */
  alarm(model: string, state: string, flagged: boolean, seconds = 0): void {
    this.alarmSeconds += seconds;
    this.alarmCount++;
    if (this.alarmQueries.size > 5000) return; // a bound, whatever happens to label values
    const key = labels({ model, state });
    this.alarmQueries.set(key, (this.alarmQueries.get(key) ?? 0) + 1);
    const fKey = labels({ model });
    this.alarmFlagged.set(fKey, (this.alarmFlagged.get(fKey) ?? 0) + (flagged ? 1 : 0));
  }

  observe(route: string, method: string, status: number, model: string, seconds: number): void {
    const reqKey = labels({ route, method, status: String(status), model });
    this.requests.set(reqKey, (this.requests.get(reqKey) ?? 0) + 1);
    const hKey = labels({ route, model });
    let h = this.latency.get(hKey);
    if (!h) {
      if (this.latency.size > 5000) return; // a bound, whatever happens to label values
      h = { labels: hKey, counts: new Array(BUCKETS.length).fill(0), sum: 0, count: 0 };
      this.latency.set(hKey, h);
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]) h.counts[i]++;
    h.sum += seconds;
    h.count++;
  }

  render(registry: ModelRegistry): string {
    const out: string[] = [];
    out.push('# HELP poisonlens_http_requests_total HTTP requests by route pattern, method, status and model.');
    out.push('# TYPE poisonlens_http_requests_total counter');
    for (const [k, v] of this.requests) out.push(`poisonlens_http_requests_total{${k}} ${v}`);
    out.push('# HELP poisonlens_http_request_duration_seconds Request latency by route pattern and model.');
    out.push('# TYPE poisonlens_http_request_duration_seconds histogram');
    for (const h of this.latency.values()) {
      BUCKETS.forEach((b, i) => out.push(`poisonlens_http_request_duration_seconds_bucket{${h.labels},le="${b}"} ${h.counts[i]}`));
      out.push(`poisonlens_http_request_duration_seconds_bucket{${h.labels},le="+Inf"} ${h.count}`);
      out.push(`poisonlens_http_request_duration_seconds_sum{${h.labels}} ${h.sum}`);
      out.push(`poisonlens_http_request_duration_seconds_count{${h.labels}} ${h.count}`);
    }
    out.push('# HELP poisonlens_alarm_queries_total Searches scored by the poisoning alarm, by model and alarm state (ready, preparing, off, unsupported, failed).');
    out.push('# TYPE poisonlens_alarm_queries_total counter');
    for (const [k, v] of this.alarmQueries) out.push(`poisonlens_alarm_queries_total{${k}} ${v}`);
    out.push('# HELP poisonlens_alarm_flagged_total Searches the poisoning alarm flagged, by model.');
    out.push('# TYPE poisonlens_alarm_flagged_total counter');
    for (const [k, v] of this.alarmFlagged) out.push(`poisonlens_alarm_flagged_total{${k}} ${v}`);
    out.push('# HELP poisonlens_alarm_seconds Time the alarm took per search, from before the query is embedded (the reference encodes it meanwhile) to the verdict.');
    out.push('# TYPE poisonlens_alarm_seconds summary');
    out.push(`poisonlens_alarm_seconds_sum ${this.alarmSeconds}`);
    out.push(`poisonlens_alarm_seconds_count ${this.alarmCount}`);
    const loaded = registry.loadedModels();
    out.push('# HELP poisonlens_loaded_models Models whose encoders and indexes are in memory.');
    out.push('# TYPE poisonlens_loaded_models gauge');
    out.push(`poisonlens_loaded_models ${loaded.length}`);
    out.push('# HELP poisonlens_model_loaded 1 for each loaded model (active="true" marks the default).');
    out.push('# TYPE poisonlens_model_loaded gauge');
    for (const m of loaded) out.push(`poisonlens_model_loaded{${labels({ model: m.id, kind: String(m.pkg.card.kind ?? ''), active: String(registry.active === m.id) })}} 1`);
    out.push('# HELP poisonlens_model_in_flight Requests holding each loaded model right now.');
    out.push('# TYPE poisonlens_model_in_flight gauge');
    for (const m of loaded) out.push(`poisonlens_model_in_flight{${labels({ model: m.id })}} ${m.refs}`);
    out.push('# HELP poisonlens_index_size Vectors in each open gallery index.');
    out.push('# TYPE poisonlens_index_size gauge');
    for (const m of loaded) {
      for (const i of m.openIndexes()) out.push(`poisonlens_index_size{${labels({ model: m.id, dataset: i.info.dataset, split: i.info.split, kind: i.info.kind })}} ${i.search.size}`);
    }
    out.push('# HELP poisonlens_text_cache_entries Query-text embeddings in the server\'s cache (all models; at most the config\'s textCacheSize).');
    out.push('# TYPE poisonlens_text_cache_entries gauge');
    out.push(`poisonlens_text_cache_entries ${registry.texts.size}`);
    out.push('# HELP poisonlens_model_swaps_total Hot swaps of the active model.');
    out.push('# TYPE poisonlens_model_swaps_total counter');
    out.push(`poisonlens_model_swaps_total ${registry.swaps}`);
    out.push('# HELP poisonlens_models_available Model packages in the workspace.');
    out.push('# TYPE poisonlens_models_available gauge');
    out.push(`poisonlens_models_available ${registry.list().length}`);
    out.push('# HELP poisonlens_uptime_seconds Seconds since the server started.');
    out.push('# TYPE poisonlens_uptime_seconds gauge');
    out.push(`poisonlens_uptime_seconds ${(Date.now() - this.started) / 1000}`);
    return out.join('\n') + '\n';
  }
}

function labels(obj: Record<string, string>): string {
  return Object.entries(obj)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}
