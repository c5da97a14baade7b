import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from './command.js';
import { numberFlag, parseFlags } from './args.js';
import { UserError } from '../core/errors.js';
import { resolveWorkspace } from '../core/workspace.js';
import { openCatalog } from '../core/catalog.js';
import { reapDeadJobs, resumeHint } from '../core/jobs.js';
import { writeFileAtomic } from '../core/fsutil.js';

const USAGE = 'poisonlens serve [--port 3000] [--host 127.0.0.1] [--preload MODEL,MODEL…]';

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * The admin token: POISONLENS_ADMIN_TOKEN, else the one saved in the workspace at an earlier
 * start, else a new random one saved there (mode 0600) and printed once.
 */
function adminToken(root: string): { token: string; source: string } {
  const env = process.env.POISONLENS_ADMIN_TOKEN;
  if (env) {
    if (env.length < 16 || /\s/.test(env)) throw new UserError('POISONLENS_ADMIN_TOKEN must be at least 16 characters without spaces', 'bad_config');
    return { token: env, source: 'POISONLENS_ADMIN_TOKEN' };
  }
  const path = join(root, 'admin-token');
  if (existsSync(path)) {
    const saved = readFileSync(path, 'utf8').trim();
    if (saved.length >= 16) return { token: saved, source: path };
  }
  const token = randomBytes(24).toString('base64url');
  writeFileAtomic(path, token + '\n');
  try {
    chmodSync(path, 0o600); // owner-only: the token guards hot swaps and, later, training jobs
  } catch {
    /* best effort on filesystems without modes */
  }
  return { token, source: `generated, saved to ${path}` };
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the search page, the JSON API and the clip-retrieval compatible API',
  usage: USAGE,
  async run(argv, ctx) {
    const { values, positionals } = parseFlags(argv, { port: { type: 'string' }, host: { type: 'string' }, preload: { type: 'string' } }, USAGE);
    if (positionals.length) throw new UserError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`, 'bad_flags');
    const port = numberFlag(values, 'port', { min: 0, max: 65535, integer: true, default: 3000 })!;
    const host = (values.host as string | undefined) ?? '127.0.0.1';
    if (!/^[A-Za-z0-9.:[\]-]{1,253}$/.test(host)) throw new UserError(`--host ${JSON.stringify(host)} is not a host name or address`, 'bad_flags');
    if (!isLoopback(host) && !process.env.POISONLENS_ADMIN_TOKEN) {
      throw new UserError(
        `refusing to listen on ${host} without POISONLENS_ADMIN_TOKEN: other machines could reach the admin routes. Set the token (16+ characters) or bind 127.0.0.1`,
        'insecure_bind',
      );
    }
    const ws = resolveWorkspace(ctx.workspaceDir);
    const { token, source } = adminToken(ws.root);
    // The server (express, ejs, onnxruntime) loads only for this command, not for every CLI start.
    const [{ createApp }, { configFromEnv }, { indexerRuntime }, { answerClientErrors }] = await Promise.all([
      import('../server/app.js'),
      import('../server/config.js'),
      import('../server/repositories/indexer-runtime-repository.js'),
      import('../server/http/client-errors.js'),
    ]);
    const catalog = openCatalog(ws.catalogPath);
    // Jobs left `running` by a process that died (kill -9, power loss) are marked failed.
    for (const j of reapDeadJobs(catalog)) console.error(`poisonlens: ${j.type} job ${j.id} (${j.target}) died with its process; marked failed. ${resumeHint(j.type, j.target)}`);
    const env = configFromEnv();
    // --preload (what `up` passes: the world's models) joins POISONLENS_PRELOAD's list.
    const preload = [...new Set([...(env.preload ?? []), ...String(values.preload ?? '').split(',').map((x) => x.trim()).filter(Boolean)])];
    const pl = createApp({ workspace: ws, runtime: indexerRuntime(ws, { db: catalog }), config: { ...env, preload, adminToken: token }, catalog });
    // Requests Node's parser rejects (headers over 16 KiB, not HTTP) get the JSON error object too.
    const server = answerClientErrors(createServer(pl.app));
    server.headersTimeout = 30_000;
    server.requestTimeout = 120_000;
    server.keepAliveTimeout = 5_000;
    await listen(server, port, host).catch((err: NodeJS.ErrnoException) => {
      catalog.close();
      if (err.code === 'EADDRINUSE') throw new UserError(`port ${port} on ${host} is already in use; pick another with --port`, 'port_in_use');
      if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') throw new UserError(`cannot listen on ${host}: no such local address`, 'bad_host');
      throw err;
    });
    const addr = server.address();
    const shownPort = typeof addr === 'object' && addr ? addr.port : port;
    const shownHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    console.log(`PoisonLens serving ${ws.root} at http://${shownHost}:${shownPort}/`);
    console.log(source.startsWith('generated') ? `admin token (${source}): ${token}` : `admin token: from ${source}`);

    // Load the start-up model in the background: pages and the API answer meanwhile (searches
    // say the model is loading), and progress goes to stderr.
    const active = pl.registry.active;
    if (active) {
      console.log(`loading model ${active} (building its index if missing)…`);
      pl.ready().then(
        () => {
          console.log(`model ${active} is ready`);
          if (preload.length) {
            console.log(`loading ${preload.filter((x) => x !== active).join(', ')} in the background (for the compare view)…`);
            void pl.preloaded().then((ids) => console.log(`preloaded: ${ids.join(', ') || 'none'}`));
          }
        },
        (err: Error) => console.error(`poisonlens: model ${active} could not be loaded: ${err.message}; the server keeps running (pick another model on /models)`),
      );
    } else {
      console.log('no model package in the workspace yet: train one with `poisonlens train`');
    }
    return shutdownOnSignal(server, async () => {
      await pl.close();
      catalog.close();
    });
  },
};

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host.replace(/^\[(.*)\]$/, '$1'), () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Graceful stop on SIGTERM/SIGINT: stop accepting, let requests in flight finish (idle
 * keep-alive sockets are closed at once; busy ones get 10 s), then release models and the
 * catalog. A second signal exits at once.
 */
function shutdownOnSignal(server: Server, release: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    // While stopping, each finished response closes its connection instead of keeping it alive.
    server.on('request', (_req, res) => {
      if (stopping) res.setHeader('Connection', 'close');
      res.once('finish', () => {
        if (stopping) setImmediate(() => server.closeIdleConnections());
      });
    });
    const stop = (signal: string) => {
      if (stopping) {
        console.error(`poisonlens: ${signal} again, exiting now`);
        process.exit(1);
      }
      stopping = true;
      console.error(`poisonlens: ${signal}: finishing requests in flight, then stopping`);
      const force = setTimeout(() => server.closeAllConnections(), 10_000);
      force.unref();
      server.close(async () => {
        clearTimeout(force);
        try {
          await release();
        } finally {
          process.off('SIGTERM', onTerm);
          process.off('SIGINT', onInt);
          console.error('poisonlens: stopped');
          resolve(0);
        }
      });
      server.closeIdleConnections();
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}
