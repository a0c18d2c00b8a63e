// The TCP health probe of a worker on this machine, as a listening check: one
// NETLINK_SOCK_DIAG dump of the machine's listening TCP sockets per round
// (src/native/listen_diag.c) instead of a connect per worker. A worker passes
// when a socket listens on its port at its address (or a wildcard address) and
// its accept queue is not full. That is what a connect to a local port learns —
// the kernel completes the handshake of a listener whose queue has room, whether
// or not the process accepts — and one thing more: a full queue fails at once,
// where a connect would wait for its SYN to time out. And the check puts nothing
// in the queue, where every connect probe leaves a connection there for the
// worker to accept.
//
// Decided once per process, at the first round: where the kernel refuses to
// answer (EPERM, no netlink in a container, a seccomp filter, an old kernel), the
// connect probe runs instead, said once in the log. A later round that fails
// (a truncated or odd answer) falls back to connects for that round only.
// SUPERVISE_PROBE_DIAG=0 chooses the connect probe.

import { constants } from 'node:os';
import { loadNative } from '../native/load.js';
import type { ProbeResult } from './probe.js';

type ListenerCheckBinding = (address: string, family: 4 | 6, ports: Int32Array) => Int32Array;

/** Results of listen_diag.c, three int32s per port: the state, the accept queue's length, the backlog. */
const LISTENING = 0;
const QUEUE_FULL = 2;

const PASS: ProbeResult = { ok: true };

/** Checks the ports of one address; undefined when the kernel could not be asked this round (probe by connecting). */
export type ListenerCheck = (address: string, family: 4 | 6, ports: readonly number[]) => ProbeResult[] | undefined;

let available: boolean | undefined;

/** The listening check, or undefined where it cannot run in this process (then connect). `notice` hears why, once per process. */
export function listenerCheck(notice: (message: string) => void): ListenerCheck | undefined {
  if (process.env.SUPERVISE_PROBE_DIAG === '0' || available === false) return undefined;
  const check = (loadNative()?.exports as { listenerCheck?: unknown } | undefined)?.listenerCheck;
  if (typeof check !== 'function') return undefined;
  const native = check as ListenerCheckBinding;
  return (address, family, ports) => {
    let codes: Int32Array;
    try {
      codes = native(address, family, Int32Array.from(ports));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      // Only a refusal at the first round decides for the process; anything else (a truncated answer, ENOBUFS) is this round's.
      if (available === undefined && isRefusal((error as { errno?: unknown }).errno)) {
        available = false;
        notice(`health probes: the kernel's socket table cannot be read here (${reason}); probing workers by TCP connects instead`);
      }
      return undefined;
    }
    available = true;
    return ports.map((port, index) => toResult(address, port, codes[index * 3] ?? -1, codes[index * 3 + 1] ?? 0, codes[index * 3 + 2] ?? 0));
  };
}

/** Errnos that say this process may not, or cannot, read the kernel's socket table. */
const REFUSALS = new Set(['EPERM', 'EACCES', 'EINVAL', 'ENOENT', 'EAFNOSUPPORT', 'EPROTONOSUPPORT', 'EOPNOTSUPP', 'ENOSYS'].map((name) => constants.errno[name as keyof typeof constants.errno]));

function isRefusal(errno: unknown): boolean {
  return typeof errno !== 'number' || REFUSALS.has(errno);
}

/** A port's state as a probe result, its reason worded for a user. */
function toResult(address: string, port: number, state: number, waiting: number, backlog: number): ProbeResult {
  if (state === LISTENING) return PASS;
  if (state === QUEUE_FULL) {
    return { ok: false, reason: `accept queue full on ${address}:${port} (${waiting} connections waiting, backlog ${backlog}): the worker is not accepting` };
  }
  return { ok: false, reason: `nothing listening on ${address}:${port}` };
}
