// Issue 22, item 5: no function over 80 lines in the study planner/runner, the defences and the
// server's routes. A long function there has meant several jobs in one body (planInner once held
// seven closures in 306 lines), which made the code hard to change; this test keeps them short by
// parsing the sources with the TypeScript compiler and measuring every function-like node
// (declarations, methods, arrow functions, function expressions, accessors, constructors) from its
// first to its last line, closures included in the function that holds them.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const root = new URL('../..', import.meta.url).pathname;
const folders = ['trainer/experiment', 'trainer/defend', 'server/routes'];
const maxLines = 80;

// Files still allowed to hold longer functions, each with the reason it is allowed and until when
// (none since the catalog work landed: runStudy is 52 lines).
const allowed = new Map<string, string>([]);

/** A function-like node: its name, first line (1-based) and length in lines. */
interface FunctionSpan {
  name: string;
  line: number;
  lines: number;
}

type LongFunction = FunctionSpan & { file: string };

/** A readable name for a function-like node: its own, or that of the variable, property or call it sits in. */
function nameOf(node: ts.Node, source: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(source);
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))) return parent.name.getText(source);
  if (parent && ts.isCallExpression(parent)) return `callback of ${parent.expression.getText(source).slice(0, 60)}`;
  return '(anonymous)';
}

/** Every function-like node with a body (declarations, methods, arrows, expressions, accessors, constructors) and its span in lines. */
function functionSpans(source: ts.SourceFile): FunctionSpan[] {
  const spans: FunctionSpan[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      spans.push({ name: nameOf(node, source), line: first + 1, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return spans;
}

/** The functions of one source file (relative to the repository root) that span more than `maxLines` lines. */
function longFunctions(file: string): LongFunction[] {
  const source = ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  return functionSpans(source)
    .filter((f) => f.lines > maxLines)
    .map((f) => ({ file, ...f }));
}

/** The TypeScript sources under a folder, as paths relative to the repository root. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out.sort();
}

test(`no function over ${maxLines} lines in ${folders.join(', ')}`, () => {
  const files = folders.flatMap(sources);
  assert.ok(files.length > 20, `expected the sources of ${folders.join(', ')}, found ${files.length} files`);
  const offenders = files.filter((f) => !allowed.has(f)).flatMap(longFunctions);
  const report = offenders.map((o) => `${o.file}:${o.line} ${o.name}: ${o.lines} lines`).join('\n');
  assert.deepEqual(offenders, [], `functions over ${maxLines} lines (split them into functions that each do one thing):\n${report}`);
});

test('the allow-list names files that exist', (t) => {
  for (const file of allowed.keys()) {
    assert.ok(existsSync(join(root, file)), `${file} is on the allow-list but does not exist: remove it`);
    // An entry whose functions are all short again is harmless but should go: say so without failing.
    if (longFunctions(file).length === 0) t.diagnostic(`${file} has no function over ${maxLines} lines: its allow-list entry can go`);
  }
});

test('the measure counts a function from its first to its last line, closures included', () => {
  const body = Array.from({ length: maxLines }, (_, i) => `  const v${i} = ${i};`).join('\n');
  const text = `export function long() {\n  const inner = () => 1;\n${body}\n}\nexport const short = () => 2;\n`;
  const source = ts.createSourceFile('probe.ts', text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const spans = functionSpans(source).map((f) => [f.name, f.lines]);
  assert.deepEqual(spans, [['long', maxLines + 3], ['inner', 1], ['short', 1]]);
});
