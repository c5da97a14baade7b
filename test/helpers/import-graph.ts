/**
 * The repository's import graph, read statically: every `.ts`/`.mjs` source outside
 * node_modules, test/ and the workspace, and every relative import, re-export or dynamic
 * `import('…')` it names (type-only imports too: a circle of types is still a circle of modules).
 * Parsed with TypeScript's own pre-processor, so multi-line and `import type` forms are found
 * the same way the compiler finds them.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** Folders that hold no source of the repository's own layers. */
const SKIPPED = new Set(['node_modules', 'test', 'workspace', '.git', '.venv', 'dist']);

/** Module (repository-relative path) → the modules it imports. */
export type ImportGraph = Map<string, string[]>;

function sources(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (SKIPPED.has(name) || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(root, p));
    else if (/\.(ts|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(relative(root, p));
  }
  return out;
}

/** The source a relative specifier names (`./x.js` is `./x.ts` under tsx), or null outside the sources. */
function resolveSpecifier(root: string, from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const abs = resolve(root, dirname(from), spec);
  const candidates = [abs, abs.replace(/\.js$/, '.ts'), `${abs}.ts`, join(abs, 'index.ts')];
  const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile());
  return hit ? relative(root, hit) : null;
}

export function importGraph(root: string): ImportGraph {
  const graph: ImportGraph = new Map();
  const files = sources(root);
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
    const targets = info.importedFiles.map((f) => resolveSpecifier(root, file, f.fileName)).filter((t): t is string => t !== null && files.includes(t));
    graph.set(file, [...new Set(targets)].sort());
  }
  return graph;
}

/**
 * Circles found by a depth-first search, one per edge that leads back into the current path
 * (not every elementary circle, but never none when there is one): each as its modules, first = last.
 */
export function findCycles(graph: ImportGraph): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

/** One import path from `from` to a module `to` accepts, or null when none exists. */
export function pathTo(graph: ImportGraph, from: string, to: (module: string) => boolean): string[] | null {
  const cameFrom = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  while (queue.length) {
    const node = queue.shift()!;
    if (node !== from && to(node)) {
      const path = [node];
      for (let p = cameFrom.get(node); p; p = cameFrom.get(p)) path.unshift(p);
      return path;
    }
    for (const next of graph.get(node) ?? []) {
      if (!cameFrom.has(next)) (cameFrom.set(next, node), queue.push(next));
    }
  }
  return null;
}

/** The top-level folder of a module (its layer), or '' for a file at the root. */
export function layerOf(module: string): string {
  const i = module.indexOf('/');
  return i < 0 ? '' : module.slice(0, i);
}
