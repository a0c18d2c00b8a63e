// Reading a YAML or JSON settings file, keeping each key's line so that errors
// can say where the bad value is. JSON is read by the YAML parser too (JSON is
// YAML 1.2), so both get positions and the same messages.

import { existsSync, readFileSync } from 'node:fs';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { UsageError } from './errors.js';

export interface SettingsFile {
  /** Absolute path. */
  readonly path: string;
  /** The top-level object. */
  readonly data: Record<string, unknown>;
  /** The value at a path of keys, e.g. ['apps', 'users']. */
  getIn(path: readonly (string | number)[]): Record<string, unknown> | undefined;
  /** ` (line N)` for the value at a path of keys (as written), or '' when unknown. */
  lineSuffix(path: readonly (string | number)[]): string;
}

export function readSettingsFile(path: string): SettingsFile {
  if (!existsSync(path)) throw new UsageError(`config file not found: ${path}`, 'CONFIG_NOT_FOUND');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`config file ${path} cannot be read: ${(error as Error).message}`, 'CONFIG_INVALID');
  }
  const lines = new LineCounter();
  const document: Document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const [first] = document.errors;
  if (first !== undefined) {
    const line = first.pos[0] === undefined ? undefined : lines.linePos(first.pos[0]).line;
    throw new UsageError(
      `config file ${path} is not valid${line === undefined ? '' : ` (line ${line})`}: ${first.message.split('\n')[0]}`,
      'CONFIG_INVALID',
    );
  }
  const data: unknown = document.toJS();
  if (data === null || data === undefined) return fileOf(path, {}, document, lines);
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`config file ${path} must hold an object of settings`, 'CONFIG_INVALID');
  }
  return fileOf(path, data as Record<string, unknown>, document, lines);
}

function fileOf(path: string, data: Record<string, unknown>, document: Document, lines: LineCounter): SettingsFile {
  return {
    path,
    data,
    getIn(keys) {
      let value: unknown = data;
      for (const key of keys) value = isObject(value) ? value[String(key)] : undefined;
      return isObject(value) ? value : undefined;
    },
    lineSuffix(keys) {
      const node = document.getIn(keys, true) as { range?: [number, number, number] } | undefined;
      const offset = node?.range?.[0];
      return offset === undefined ? '' : ` (line ${lines.linePos(offset).line})`;
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
