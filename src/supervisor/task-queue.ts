// The supervisor's one queue: every input (a process callback, a timer, a health
// result, a command from outside) is a task; tasks run one at a time, each to
// completion, then `afterTask` runs (the reconciler) and the waiters whose
// condition now holds are resolved. A task that throws is logged, not fatal: a
// bug in one must not take the supervisor down with every worker.

type Waiter = { check: () => boolean; resolve: () => void };

export class TaskQueue {
  private readonly tasks: Array<() => void> = [];
  private readonly waiters = new Set<Waiter>();
  private running = false;

  constructor(
    private readonly afterTask: () => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Runs a task; tasks posted while one runs wait their turn. */
  post(task: () => void): void {
    this.tasks.push(task);
    if (this.running) return;
    this.running = true;
    try {
      for (let next = this.tasks.shift(); next; next = this.tasks.shift()) {
        try {
          next();
          this.afterTask();
          this.resolveWaiters();
        } catch (error) {
          this.onError(error);
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Runs a task and resolves with its result (a command from outside). */
  command<T>(task: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.post(() => {
        try {
          resolve(task());
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  /** Resolves when check() holds after some task (or at once). */
  waitFor(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add({ check, resolve }));
  }

  private resolveWaiters(): void {
    for (const waiter of this.waiters) {
      if (waiter.check()) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }
}
