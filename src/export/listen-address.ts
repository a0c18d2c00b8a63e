// A server inside a container must listen beyond 127.0.0.1, or every probe and
// every request from outside the container fails. The exports set HOST=0.0.0.0,
// which many servers read, but uvicorn and gunicorn do not: they take the
// address from their command line (uvicorn's default is 127.0.0.1). So the
// exported command of a uvicorn or gunicorn server is rewritten: a loopback
// address becomes 0.0.0.0, and uvicorn without --host gets `--host 0.0.0.0`.
// Other commands are left as written (HOST is all they get). Pure.

import { basename } from 'node:path';

const ANY = '0.0.0.0';

export interface ListenRewrite {
  readonly command: readonly string[];
  /** What was changed, for the exporter to say (undefined: nothing). */
  readonly note: string | undefined;
}

/** `127.0.0.1`, `localhost`, `::1`, `[::1]`: addresses a container's neighbours cannot reach. */
function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || /^127\./.test(bare);
}

/** The index of the server's name in argv (`uvicorn …`, `python -m uvicorn …`), or -1. */
function serverAt(argv: readonly string[], server: string): number {
  const program = basename(argv[0] ?? '');
  if (program === server) return 0;
  if (/^python[0-9.]*$/.test(program) && argv[1] === '-m' && argv[2] === server) return 2;
  return -1;
}

/** The command with a container-reachable listen address, for uvicorn and gunicorn. */
export function listenBeyondLoopback(argv: readonly string[]): ListenRewrite {
  const uvicorn = serverAt(argv, 'uvicorn');
  if (uvicorn >= 0) return rewriteUvicorn(argv, uvicorn);
  if (serverAt(argv, 'gunicorn') >= 0) return rewriteGunicorn(argv);
  return { command: argv, note: undefined };
}

function rewriteUvicorn(argv: readonly string[], at: number): ListenRewrite {
  const command = [...argv];
  // A unix socket or an inherited descriptor: no address to change.
  if (command.some((arg) => arg === '--uds' || arg === '--fd' || arg.startsWith('--uds=') || arg.startsWith('--fd='))) return { command, note: undefined };
  for (const [index, arg] of command.entries()) {
    if (arg === '--host' && index + 1 < command.length) {
      const host = command[index + 1] as string;
      if (!isLoopback(host)) return { command, note: undefined };
      command[index + 1] = ANY;
      return { command, note: `uvicorn's --host ${host} became --host ${ANY}` };
    }
    if (arg.startsWith('--host=')) {
      const host = arg.slice('--host='.length);
      if (!isLoopback(host)) return { command, note: undefined };
      command[index] = `--host=${ANY}`;
      return { command, note: `uvicorn's --host ${host} became --host ${ANY}` };
    }
  }
  command.splice(at + 1, 0, '--host', ANY);
  return { command, note: `uvicorn got --host ${ANY} (it listens on 127.0.0.1 by default and ignores HOST)` };
}

function rewriteGunicorn(argv: readonly string[]): ListenRewrite {
  const command = [...argv];
  const changed: string[] = [];
  const rebind = (value: string) => {
    // host:port, [v6]:port; unix:/path is left alone.
    const match = /^(\[[^\]]+\]|[^:]+):(.+)$/.exec(value);
    if (match === null || value.startsWith('unix:') || !isLoopback(match[1] as string)) return value;
    changed.push(value);
    return `${ANY}:${match[2] as string}`;
  };
  for (let index = 0; index < command.length; index++) {
    const arg = command[index] as string;
    if ((arg === '-b' || arg === '--bind') && index + 1 < command.length) {
      command[index + 1] = rebind(command[index + 1] as string);
      index++;
    } else if (arg.startsWith('--bind=')) {
      command[index] = `--bind=${rebind(arg.slice('--bind='.length))}`;
    } else if (arg.startsWith('-b') && arg.length > 2) {
      command[index] = `-b${rebind(arg.slice(2))}`;
    }
  }
  return { command, note: changed.length === 0 ? undefined : `gunicorn's --bind ${changed.join(', ')} now binds ${ANY}` };
}
