// A thread inside each cluster worker (started by cluster-preload.ts) that logs
// the JavaScript stack of a blocked event loop: the main thread bumps a shared
// counter from its event loop; when it has not moved for `limitMs`, this thread
// pauses the main thread through the inspector (a V8 interrupt, which reaches a
// busy loop too), writes the stack to stderr with a synchronous write (the
// worker's process.stderr is the blocked main thread's), and resumes it. The
// master then logs it as the worker's output, before it declares the worker
// hung at --heartbeat-timeout and kills it.

import { writeSync } from 'node:fs';
import { Session } from 'node:inspector';
import { workerData } from 'node:worker_threads';

interface StackWatchData {
  readonly beat: Int32Array;
  readonly limitMs: number;
  readonly periodMs: number;
}

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly location: { readonly scriptId: string; readonly lineNumber: number; readonly columnNumber: number };
}

const { beat, limitMs, periodMs } = workerData as StackWatchData;
let last = Atomics.load(beat, 0);
let since = Date.now();
let reported = false;

function dumpStack(blockedMs: number): void {
  const session = new Session();
  session.connectToMainThread();
  const scripts = new Map<string, string>();
  session.on('Debugger.scriptParsed', ({ params }: { params: { scriptId: string; url: string } }) => scripts.set(params.scriptId, params.url));
  session.on('Debugger.paused', ({ params }: { params: { callFrames: CallFrame[] } }) => {
    const frames = params.callFrames.slice(0, 20).map((frame) => {
      const url = frame.url || scripts.get(frame.location.scriptId) || '?';
      return `    at ${frame.functionName || '<anonymous>'} (${url}:${frame.location.lineNumber + 1}:${frame.location.columnNumber + 1})`;
    });
    try {
      writeSync(2, `supervise: the event loop has been blocked for ${blockedMs}ms; JavaScript stack:\n${frames.join('\n')}\n`);
    } finally {
      session.post('Debugger.resume', () => session.post('Debugger.disable', () => session.disconnect()));
    }
  });
  session.post('Debugger.enable', () => session.post('Debugger.pause'));
}

setInterval(() => {
  const now = Atomics.load(beat, 0);
  if (now !== last) {
    last = now;
    since = Date.now();
    reported = false;
    return;
  }
  const blockedMs = Date.now() - since;
  if (reported || blockedMs < limitMs) return;
  reported = true;
  dumpStack(blockedMs);
}, periodMs);
