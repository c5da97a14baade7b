/**
 * Shared set-up of the server tests: the real app (createApp) over a private copy of the
 * server test world (real engine-trained ONNX models, real dataset), driven in-process.
 */
import sharp from 'sharp';
import { createApp, type PoisonLensServer } from '../../server/app.js';
import type { AppConfig } from '../../server/config.js';
import { indexerRuntime } from '../../server/repositories/indexer-runtime-repository.js';
import type { Workspace } from '../../core/workspace.js';
import { serverWorld, serverWorldMissing, serverWorkspace, type ServerWorld } from '../helpers/server-world.js';

export const TOKEN = 'test-admin-token-0123456789abcdef';

export interface Harness {
  world: ServerWorld;
  ws: Workspace;
  pl: PoisonLensServer;
  logs: string[];
  close(): Promise<void>;
}

/** Why the server tests cannot run here (no Python venv to train the test models), or undefined. */
export const skipReason: string | undefined = serverWorldMissing() ?? undefined;

/** The app over a private workspace; `indexes: false` starts without prebuilt indexes. */
export async function harness(config: Partial<AppConfig> = {}, opts: { indexes?: boolean } = {}): Promise<Harness> {
  const world = await serverWorld();
  const { ws, dispose } = serverWorkspace(world, opts);
  const logs: string[] = [];
  const pl = createApp({
    workspace: ws,
    runtime: indexerRuntime(ws, { threads: 1 }),
    config: { adminToken: TOKEN, activeModel: world.clean, ...config },
    log: (line) => logs.push(line),
  });
  await pl.ready();
  return {
    world,
    ws,
    pl,
    logs,
    async close() {
      await pl.close();
      dispose();
    },
  };
}

/** A small real PNG (a white ellipse on green: a "sheep on the grass" of the tiny world). */
export async function samplePng(width = 40, height = 32): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="rgb(40,150,50)"/><ellipse cx="${width / 2}" cy="${height / 2}" rx="${width / 4}" ry="${height / 5}" fill="rgb(235,235,225)"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/**
 * Waits until `ready()` holds (a state or an event the test can see), checking every few ms;
 * throws naming `what` after `ms`. Tests wait on this rather than on a guessed sleep.
 */
export async function waitFor(ready: () => boolean, what: string, ms = 60_000): Promise<void> {
  const t0 = performance.now();
  while (!ready()) {
    if (performance.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
