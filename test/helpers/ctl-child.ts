// `supervise ctl …` as a child process whose output is read line by line while
// it runs (ctl events, ctl logs -f), the way a user's terminal shows it.

import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from './supervise.js';

export interface CtlChild {
  readonly child: ChildProcess;
  readonly out: string[];
  readonly err: string[];
  /** Resolves with the exit code. */
  readonly done: Promise<number | null>;
}

const children = new Set<ChildProcess>();

export function ctlChild(args: readonly string[]): CtlChild {
  const child = spawn(process.execPath, [BIN, 'ctl', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const out: string[] = [];
  const err: string[] = [];
  for (const [stream, lines] of [[child.stdout, out], [child.stderr, err]] as const) {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      lines.push(...parts);
    });
  }
  const done = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, out, err, done };
}

/** SIGKILL every ctl child still running (call it in after()). */
export function killCtlChildren(): void {
  for (const child of children) child.kill('SIGKILL');
}
