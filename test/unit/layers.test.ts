import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix, relative, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The direction of every import in src/: each layer uses only the layers below it (and itself),
 * so a module can be read, tested and moved knowing only what is under it. The rule is data; the
 * checker reads each file's imports (static, dynamic, re-exports) with the TypeScript parser.
 */
type Layer = 'core' | 'edge' | 'app' | 'commands' | 'entry' | 'lab';

interface LayerRule {
  readonly imports: readonly Layer[];
  readonly why: string;
}

const LAYERS: Readonly<Record<Layer, LayerRule>> = {
  core: { imports: ['core'], why: 'pure computation on data: testable without a machine, callable from anywhere' },
  edge: {
    imports: ['core', 'edge'],
    why: 'the I/O (processes, files, sockets, terminal), each adapter knowing only the data it moves',
  },
  app: {
    imports: ['core', 'edge', 'app'],
    why: 'what each command does, as plain functions that need no command line',
  },
  commands: { imports: ['core', 'app', 'commands'], why: 'yargs wiring only: options, help, and one call into app' },
  entry: {
    imports: ['core', 'edge', 'app', 'commands'],
    why: 'what a process starts with: cli.ts, the proxy fast path, build steps',
  },
  lab: {
    imports: ['core', 'edge', 'app', 'lab'],
    why: 'the namespace lab of demo, tests and benchmarks: a user of the product, never used by it',
  },
};

/** Single files that may import one layer more than their own layer does. */
const ALSO: Readonly<Record<string, readonly Layer[]>> = {
  // demo is no part of the product: it shows it, in the lab, and its command runs the lab.
  'commands/demo.ts': ['lab'],
};

const ENTRY_POINTS = new Set(['cli.ts', 'proxy-main.ts']);

/**
 * Which layer a file (relative to src/, with /) is in: its first folder; build steps and the two mains
 * are entry points.
 */
function layerOf(file: string): Layer | undefined {
  if (ENTRY_POINTS.has(file) || file.startsWith('build/')) return 'entry';
  const folder = file.split('/')[0];
  return folder === 'core' || folder === 'edge' || folder === 'app' || folder === 'commands' || folder === 'lab'
    ? folder
    : undefined;
}

const EVERY_LAYER = Object.keys(LAYERS) as Layer[];

/** npm packages and the layers that may load them. */
const PACKAGES: Readonly<Record<string, readonly Layer[]>> = {
  // A parser of ssh config text: pure, so anything may use it.
  'ssh-config': EVERY_LAYER,
  // The full command line; the proxy's fast path stays without it (it costs more to load than all the rest).
  yargs: ['commands', 'entry'],
  // The spinner, drawn on the terminal.
  ora: ['edge'],
};

/**
 * What core may take from Node: only these exports, each a computation on its arguments that
 * touches no file, socket, process, clock or environment. (path's `posix` also holds `resolve`,
 * which reads the working directory: core uses only its string arithmetic.)
 */
const PURE_BUILTINS: Readonly<Record<string, readonly string[]>> = {
  'node:path': ['posix'],
  'node:net': ['isIP', 'isIPv4', 'isIPv6'],
  'node:util': ['parseArgs', 'ParseArgsConfig'],
  'node:crypto': ['createHmac', 'createHash'],
};

interface Import {
  readonly specifier: string;
  /** The names taken; '*' for a whole module (namespace, default, side effect, dynamic import). */
  readonly names: readonly string[];
}

function importsOf(file: string, text: string): Import[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: Import[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const named = bindings !== undefined && ts.isNamedImports(bindings) ? bindings.elements : undefined;
      const whole = clause === undefined || clause.name !== undefined || named === undefined;
      const names = whole ? ['*'] : named.map((element) => (element.propertyName ?? element.name).text);
      found.push({ specifier: node.moduleSpecifier.text, names });
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push({ specifier: node.moduleSpecifier.text, names: ['*'] });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      // A computed module name cannot be checked, so it is not allowed.
      const specifier = argument !== undefined && ts.isStringLiteralLike(argument) ? argument.text : '<computed>';
      found.push({ specifier, names: ['*'] });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const isBuiltin = (specifier: string): boolean => specifier.startsWith('node:') || builtinModules.includes(specifier);
const packageName = (specifier: string): string =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/** Every import of one file that goes the wrong way, as `file: specifier (why)`. */
function wrongWay(file: string, text: string): string[] {
  const layer = layerOf(file);
  if (layer === undefined) return [`${file}: belongs to no layer (add it to a layer's folder, or to layerOf)`];
  const problems: string[] = [];
  for (const { specifier, names } of importsOf(file, text)) {
    const wrong = (why: string): void => {
      problems.push(`${file}: ${specifier} (${why})`);
    };
    if (specifier.startsWith('.')) {
      const target = posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
      const targetLayer = target.startsWith('../') ? undefined : layerOf(target);
      if (targetLayer === undefined) wrong('outside every layer');
      else if (!LAYERS[layer].imports.includes(targetLayer) && !(ALSO[file] ?? []).includes(targetLayer)) {
        wrong(`${layer} may not import ${targetLayer}`);
      }
    } else if (isBuiltin(specifier)) {
      if (layer !== 'core') continue;
      const pure = PURE_BUILTINS[specifier.startsWith('node:') ? specifier : `node:${specifier}`] ?? [];
      const impure = names.filter((name) => !pure.includes(name));
      if (impure.length > 0) wrong(`core takes from Node only what PURE_BUILTINS lists, not ${impure.join(', ')}`);
    } else {
      const allowed = PACKAGES[packageName(specifier)];
      if (allowed === undefined) wrong('a package PACKAGES does not list');
      else if (!allowed.includes(layer)) wrong(`${layer} may not load ${packageName(specifier)}`);
    }
  }
  return problems;
}

const SRC = join(import.meta.dirname, '..', '..', 'src');

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(entry.parentPath, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path).split(sep).join('/')] : [];
  });
}

describe('imports in src/ point down the layers', () => {
  const files = sourceFiles(SRC);

  it('finds the sources', () => {
    expect(files).toContain('core/errors.ts');
    expect(files).toContain('commands/proxy.ts');
  });

  for (const [layer, rule] of Object.entries(LAYERS)) {
    it(`${layer} imports only ${rule.imports.join(', ')}: ${rule.why}`, () => {
      const inLayer = files.filter((file) => layerOf(file) === layer);
      expect(inLayer.length).toBeGreaterThan(0);
      expect(inLayer.flatMap((file) => wrongWay(file, readFileSync(join(SRC, file), 'utf8')))).toEqual([]);
    });
  }

  it('every file is in a layer', () => {
    expect(files.filter((file) => layerOf(file) === undefined)).toEqual([]);
  });
});

describe('the check itself', () => {
  it.each([
    ['core/a.ts', "import { readSnapshot } from '../edge/files.js';", 'core may not import edge'],
    ['core/a.ts', "import { promises } from 'node:fs';", 'not promises'],
    ['core/a.ts', "import { join, posix } from 'node:path';", 'not join'],
    ['core/a.ts', "import * as net from 'node:net';", 'not *'],
    ['edge/a.ts', "export { knock } from '../app/knock.js';", 'edge may not import app'],
    ['app/a.ts', "const m = await import('../commands/setup.js');", 'app may not import commands'],
    ['app/a.ts', "import type { Argv } from 'yargs';", 'app may not load yargs'],
    ['edge/a.ts', "import { run } from '../lab/lab.js';", 'edge may not import lab'],
    ['commands/a.ts', "import { loadSecret } from '../edge/secret-source.js';", 'commands may not import edge'],
    ['lab/a.ts', "import * as setup from '../commands/setup.js';", 'lab may not import commands'],
    ['commands/doctor.ts', "const { findCommand } = await import('../lab/exec.js');", 'commands may not import lab'],
    ['app/a.ts', 'const m = await import(name);', '<computed>'],
    ['app/a.ts', "import left from 'left-pad';", 'a package PACKAGES does not list'],
    ['elsewhere.ts', "import { x } from './core/a.js';", 'belongs to no layer'],
  ])('refuses %s with %s', (file, text, problem) => {
    expect(wrongWay(file, text).join('\n')).toContain(problem);
  });

  it.each([
    [
      'core/a.ts',
      "import { isIP } from 'node:net';\nimport { parse } from 'ssh-config';\nimport { x } from './rules/b.js';",
    ],
    ['edge/a.ts', "import { spawn } from 'node:child_process';\nimport { x } from '../core/a.js';"],
    ['commands/a.ts', "import type { Argv } from 'yargs';\nconst { run } = await import('../app/enroll.js');"],
    ['commands/demo.ts', "import { runDemo } from '../lab/demo.js';"],
    ['build/a.ts', "import { launcherScript } from '../core/launcher.js';"],
    ['lab/a.ts', "import { run } from '../edge/exec.js';\nimport { x } from '../app/knock.js';"],
  ])('accepts %s', (file, text) => {
    expect(wrongWay(file, text)).toEqual([]);
  });
});
