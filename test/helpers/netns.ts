// Several "machines" on this one, for the remote-upstreams tests: each machine is
// a network namespace with a veth pair into a bridge of the root namespace, an
// address on a private /24 of its own, and whatever processes the test starts in
// it (`ip netns exec`). Names carry a per-run id, so runs never collide; `destroy`
// kills every process in the namespaces and removes namespaces, links and the
// bridge, also after a failed test. Needs root and `ip netns` (CI has both):
// `netnsMissing()` says why not, and under CI=true a missing `ip netns` fails.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface Machine {
  /** Namespace name. */
  readonly ns: string;
  /** Its address on the bridge. */
  readonly address: string;
  /** Link down/up of its veth end in the root namespace (the cable pulled, put back). */
  linkDown(): void;
  linkUp(): void;
  /** SIGKILL every process in the namespace (the machine's supervise and its workers). */
  killAll(): void;
  /** Signal every process in the namespace (SIGSTOP, SIGCONT). */
  signalAll(signal: NodeJS.Signals): void;
  /** A process started inside the namespace. */
  spawn(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess;
}

export interface Machines {
  readonly machines: readonly Machine[];
  /** The root namespace's address on the bridge (where the front's connections come from). */
  readonly gateway: string;
  destroy(): void;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

function quietly(fn: () => unknown): void {
  try {
    fn();
  } catch {
    // Already gone.
  }
}

/** Why these tests cannot run here (undefined: they can). Under CI=true they must. */
export function netnsMissing(): string | undefined {
  let missing: string | undefined;
  if (process.platform !== 'linux') missing = 'network namespaces are Linux only';
  else if (process.getuid?.() !== 0) missing = 'ip netns needs root';
  else {
    const probe = `spprobe${randomBytes(3).toString('hex')}`;
    try {
      ip('netns', 'add', probe);
      ip('netns', 'del', probe);
    } catch (error) {
      missing = `ip netns does not work here: ${(error as Error).message.split('\n')[0] ?? ''}`;
    }
  }
  if (missing !== undefined && process.env.CI === 'true') throw new Error(`CI=true: the several-machines tests must run, but ${missing}`);
  return missing;
}

export function createMachines(count: number): Machines {
  const id = randomBytes(3).toString('hex');
  // A /24 of 10.0.0.0/8 picked per run; the bridge is .1, machine i is .(11 + i).
  const subnet = `10.${200 + (randomBytes(1)[0] as number) % 50}.${randomBytes(1)[0] as number}`;
  const bridge = `spb${id}`;
  const namespaces: string[] = [];
  const processes = new Set<ChildProcess>();
  const pidsIn = (ns: string) => quietlyRead(() => ip('netns', 'pids', ns)).split('\n').filter(Boolean).map(Number);

  const destroy = () => {
    for (const child of processes) quietly(() => child.kill('SIGKILL'));
    for (const ns of namespaces) {
      for (const pid of pidsIn(ns)) quietly(() => process.kill(pid, 'SIGKILL'));
      quietly(() => ip('netns', 'del', ns));
    }
    quietly(() => ip('link', 'del', bridge));
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    const machines = Array.from({ length: count }, (_, index): Machine => {
      const ns = `spm${id}${index}`;
      const outside = `spv${id}${index}`;
      const inside = `spi${id}${index}`;
      const address = `${subnet}.${11 + index}`;
      ip('netns', 'add', ns);
      namespaces.push(ns);
      ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
      ip('link', 'set', outside, 'master', bridge);
      ip('link', 'set', outside, 'up');
      ip('link', 'set', inside, 'netns', ns);
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', inside);
      ip('-n', ns, 'link', 'set', inside, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      return {
        ns,
        address,
        linkDown: () => void ip('link', 'set', outside, 'down'),
        linkUp: () => void ip('link', 'set', outside, 'up'),
        killAll: () => {
          for (const pid of pidsIn(ns)) quietly(() => process.kill(pid, 'SIGKILL'));
        },
        signalAll: (signal) => {
          for (const pid of pidsIn(ns)) quietly(() => process.kill(pid, signal));
        },
        spawn: (command, args, env) => {
          const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
          processes.add(child);
          child.once('exit', () => processes.delete(child));
          return child;
        },
      };
    });
    return { machines, gateway: `${subnet}.1`, destroy };
  } catch (error) {
    destroy();
    throw error;
  }
}

function quietlyRead(fn: () => string): string {
  try {
    return fn();
  } catch {
    return '';
  }
}
