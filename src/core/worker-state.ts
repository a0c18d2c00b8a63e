// The worker lifecycle as a table: transition(state, event) -> {state, effects}.
// Pure: no timers, no processes. The supervisor performs the effects.
//
//   starting ──ready──► ready ──retire──► draining ──drained|timeout──► stopping ──exit──► exited
//      │                  │  │                 │                          ▲   │
//      │ timeout ─────────┼──┼─────────────────┼──────────────────────────┘   └─timeout─► SIGKILL
//      │                  │  └──hung───────────┴──hung──► stopping + SIGKILL at once
//      └──exit──┬─────────┘ (unasked)
//               ▼
//            backoff ──timeout──► starting          (reload candidates go to exited instead)
//
// Every state has at most one timer: ready deadline, drain deadline, kill deadline or
// restart delay. The supervisor clears it on every state change, so a stale timer can
// never fire into a later state. The restart delay is the slot history's to decide
// (arm-restart), once, for a crash and a slot that is still backing off alike.
// A stop's whole budget is --kill-timeout: the kill deadline is what is left of it
// after the drain (stopRemainingMs).

// The lifecycle's vocabulary lives with its table.
export type WorkerState = 'starting' | 'ready' | 'draining' | 'stopping' | 'exited' | 'backoff';

/** What can happen to one worker. The supervisor turns callbacks and timers into these. */
export type WorkerEvent =
  | { readonly type: 'ready' }
  | { readonly type: 'exit'; readonly code: number | null; readonly signal: string | null }
  /** The single timer armed for the current state fired. */
  | { readonly type: 'timeout' }
  /** Take the worker out of service gracefully (reload, scale down, restart, stop). */
  | { readonly type: 'retire' }
  /** The front or the launcher reports no connection left on a draining worker. */
  | { readonly type: 'drained' }
  /** Stop now: SIGTERM without draining (second signal, shutdown of a starting worker). */
  | { readonly type: 'terminate' }
  /** Alive but not serving (no heartbeat, stopped, liveness failures): replaced, then killed. */
  | { readonly type: 'hung'; readonly reason: string };

/** Side effects the supervisor performs after a transition. */
export type WorkerEffect =
  | { readonly type: 'launch' }
  | { readonly type: 'add-to-rotation' }
  | { readonly type: 'remove-from-rotation' }
  | { readonly type: 'begin-drain' }
  | { readonly type: 'signal'; readonly signal: 'SIGTERM' | 'SIGKILL'; readonly reason?: string }
  | { readonly type: 'arm-timer'; readonly ms: number }
  | { readonly type: 'report-crash' }
  | { readonly type: 'report-failed-start'; readonly reason: string }
  | { readonly type: 'report-hung'; readonly reason: string }
  /** Arm the restart timer with the slot's backoff delay (SlotHistory decides it, once). */
  | { readonly type: 'arm-restart' }
  | { readonly type: 'forget' };

export interface TransitionContext {
  readonly readyTimeoutMs: number;
  /** What is left of this worker's --kill-timeout budget (all of it before the stop began). */
  readonly stopRemainingMs: number;
  /** How long a draining worker may keep its connections before SIGTERM (within the budget). */
  readonly drainTimeoutMs: number;
  /** A new record's slot is still backing off: start in backoff, not at once. */
  readonly mustWait: boolean;
  /** False for reload candidates and during shutdown: a crash ends the worker for good. */
  readonly restartOnCrash: boolean;
}

export interface Transition {
  readonly state: WorkerState;
  readonly effects: readonly WorkerEffect[];
}

type EventType = WorkerEvent['type'];
type Rule = (ctx: TransitionContext, event: WorkerEvent) => Transition;

const sigterm = (ctx: TransitionContext): WorkerEffect[] => [
  { type: 'signal', signal: 'SIGTERM' },
  { type: 'arm-timer', ms: ctx.stopRemainingMs },
];

const toStopping = (ctx: TransitionContext, ...before: WorkerEffect[]): Transition => ({
  state: 'stopping',
  effects: [...before, ...sigterm(ctx)],
});

const crashed = (ctx: TransitionContext, ...before: WorkerEffect[]): Transition =>
  ctx.restartOnCrash
    ? {
        state: 'backoff',
        effects: [...before, { type: 'report-crash' }, { type: 'arm-restart' }],
      }
    : { state: 'exited', effects: [...before, { type: 'report-crash' }, { type: 'forget' }] };

const gone: Transition = { state: 'exited', effects: [{ type: 'forget' }] };
const sigkill =
  (reason: string): Rule =>
  () => ({ state: 'stopping', effects: [{ type: 'signal', signal: 'SIGKILL', reason }] });
const killTimedOut = sigkill('did not stop within --kill-timeout');
const killAtOnce = sigkill('second stop request');
/** A hung worker serves nothing and may not even run its signal handlers (SIGSTOP, a busy loop): SIGKILL. */
const hung: Rule = (ctx) => ({
  state: 'stopping',
  effects: [{ type: 'signal', signal: 'SIGKILL', reason: 'hung' }, { type: 'arm-timer', ms: ctx.stopRemainingMs }],
});

const TABLE: Record<WorkerState, Partial<Record<EventType, Rule>>> = {
  starting: {
    ready: () => ({ state: 'ready', effects: [{ type: 'add-to-rotation' }] }),
    timeout: (ctx) =>
      toStopping(ctx, {
        type: 'report-failed-start',
        reason: `not ready within ${ctx.readyTimeoutMs}ms`,
      }),
    exit: (ctx) => crashed(ctx),
    // Not serving yet: nothing to drain.
    retire: (ctx) => toStopping(ctx),
    terminate: (ctx) => toStopping(ctx),
  },
  ready: {
    retire: (ctx) => ({
      state: 'draining',
      effects: [
        { type: 'remove-from-rotation' },
        { type: 'begin-drain' },
        { type: 'arm-timer', ms: ctx.drainTimeoutMs },
      ],
    }),
    terminate: (ctx) => toStopping(ctx, { type: 'remove-from-rotation' }),
    exit: (ctx) => crashed(ctx, { type: 'remove-from-rotation' }),
    hung: (ctx, event) => {
      const kill = hung(ctx, event);
      const reason = event.type === 'hung' ? event.reason : 'hung';
      return { state: kill.state, effects: [{ type: 'remove-from-rotation' }, { type: 'report-hung', reason }, ...kill.effects] };
    },
  },
  draining: {
    drained: (ctx) => toStopping(ctx),
    timeout: (ctx) => toStopping(ctx),
    terminate: killAtOnce,
    hung,
    exit: () => gone,
  },
  stopping: {
    timeout: killTimedOut,
    terminate: killAtOnce,
    // A reload waiting on a hung old worker waits for it once, not for a second kill timeout.
    hung,
    exit: () => gone,
  },
  backoff: {
    timeout: (ctx) => ({
      state: 'starting',
      effects: [{ type: 'launch' }, { type: 'arm-timer', ms: ctx.readyTimeoutMs }],
    }),
    retire: () => gone,
    terminate: () => gone,
  },
  exited: {},
};

/** The next state and its effects, or undefined when the event means nothing in this state. */
export function transition(
  state: WorkerState,
  event: WorkerEvent,
  ctx: TransitionContext,
): Transition | undefined {
  const rule = TABLE[state][event.type];
  return rule?.(ctx, event);
}

/** A new worker record: launch it and give it until the ready deadline, or wait out its slot's backoff first. */
export function initialTransition(ctx: TransitionContext): Transition {
  if (ctx.mustWait) return { state: 'backoff', effects: [{ type: 'arm-restart' }] };
  return {
    state: 'starting',
    effects: [{ type: 'launch' }, { type: 'arm-timer', ms: ctx.readyTimeoutMs }],
  };
}

/** States in which a worker holds its slot (counts toward the desired number). */
export function holdsSlot(state: WorkerState): boolean {
  return state === 'starting' || state === 'ready' || state === 'backoff';
}
