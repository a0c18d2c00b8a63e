// `supervise export kubernetes|systemd|compose [--config f] [-o dir]
// [--image app=ref]... [--routes ingress|httproute] [--gateway name]`:
// parses, reads the system file, delegates to src/export, writes the files
// (or prints them: Kubernetes as one stream for `kubectl apply -f -`).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EXIT_OK, EXIT_USAGE, isSuperviseError } from '../errors.js';
import { ENGINES, exportSystem, type Engine } from '../export/files.js';
import { buildSystem } from '../system-config.js';

const USAGE = 'usage: supervise export kubernetes|systemd|compose [--config <file>] [-o <dir>] [--image <app>=<ref>]... [--routes ingress|httproute] [--gateway <name>]';
const BIN = fileURLToPath(new URL('../../../bin/supervise.js', import.meta.url));

export interface ExportContext {
  readonly cwd: string;
  /** ./supervise.yaml (or .yml, .json) when there is one: the file without --config. */
  readonly defaultConfig: string | undefined;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

export function runExport(argv: readonly string[], context: ExportContext): number {
  const fail = (message: string) => {
    context.stderr.write(`supervise export: ${message}\n${USAGE}\n`);
    return EXIT_USAGE;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        output: { type: 'string', short: 'o' },
        image: { type: 'string', multiple: true },
        routes: { type: 'string' },
        gateway: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return fail((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    context.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  const engine = positionals[0];
  if (positionals.length !== 1 || !ENGINES.includes(engine as Engine)) {
    return fail(engine === undefined ? 'which engine? kubernetes, systemd or compose' : `unknown engine "${positionals.join(' ')}" (kubernetes, systemd or compose)`);
  }
  if (values.routes !== undefined && values.routes !== 'ingress' && values.routes !== 'httproute') {
    return fail(`--routes must be ingress or httproute (got "${values.routes}")`);
  }
  const images = new Map<string, string>();
  for (const pair of values.image ?? []) {
    const equals = pair.indexOf('=');
    if (equals <= 0 || equals === pair.length - 1) return fail(`--image wants <app>=<image reference> (got "${pair}")`);
    images.set(pair.slice(0, equals), pair.slice(equals + 1));
  }
  const configFile = values.config ?? context.defaultConfig;
  if (configFile === undefined) return fail(`no --config, and no supervise.yaml in ${context.cwd}`);

  try {
    const system = buildSystem({ flags: {}, positional: [], command: undefined, configFile, cwd: context.cwd, stdoutIsTTY: false });
    const unknown = [...images.keys()].find((name) => !system.apps.some((app) => app.name === name));
    if (unknown !== undefined) return fail(`--image names "${unknown}", which is not an app of ${system.file ?? configFile} (apps: ${system.apps.map((a) => a.name).join(', ')})`);
    const files = exportSystem(engine as Engine, system, { images, routes: values.routes as 'ingress' | 'httproute' | undefined, gateway: values.gateway, node: process.execPath, bin: BIN, configFile: resolve(context.cwd, configFile) });
    if (values.output === undefined) {
      context.stdout.write(files.map((file) => file.content).join(engine === 'kubernetes' ? '---\n' : '\n'));
      return EXIT_OK;
    }
    const dir = resolve(context.cwd, values.output);
    mkdirSync(dir, { recursive: true });
    for (const file of files) {
      writeFileSync(join(dir, file.name), file.content);
      context.stdout.write(`${join(dir, file.name)}\n`);
    }
    return EXIT_OK;
  } catch (error) {
    // A bad file or an unwritable -o: one line, no usage (the command line was fine).
    if (isSuperviseError(error) || (error instanceof Error && 'code' in error && typeof error.code === 'string')) {
      context.stderr.write(`supervise export: ${(error as Error).message}\n`);
      return isSuperviseError(error) ? error.exitCode : EXIT_USAGE;
    }
    throw error;
  }
}
