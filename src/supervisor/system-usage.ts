// The system's one usage sampler (health/usage.ts) and who needs it: a
// `GET /status` or a metrics scrape asks for a fresh sample (at most a second
// old); `--max-memory` of any app holds a periodic requirement, and so may other
// consumers (the autoscaler) through `requireSampling`. With none of these the
// master reads nothing of its workers.

import { createUsageSampler, type UsageSampler } from '../health/usage.js';
import type { App } from './app.js';

/** How often RSS is read for `--max-memory`. */
export const MAX_MEMORY_PERIOD_MS = 2000;

export class SystemUsage {
  private readonly sampler: UsageSampler;
  private releaseMaxMemory: (() => void) | undefined;

  constructor(private readonly apps: () => Iterable<App>) {
    this.sampler = createUsageSampler({
      pids: () => [...this.apps()].flatMap((app) => app.pids()),
      onSample: (samples) => {
        for (const app of this.apps()) app.sampled(samples);
      },
    });
  }

  /** Someone looks (`status`, `top`, metrics): worker records hold a sample at most a second old once this resolves. */
  async refresh(): Promise<void> {
    await this.sampler.fresh();
  }

  /** Keep sampling every `periodMs` until released (the autoscaler's CPU metric). */
  requireSampling(periodMs: number): () => void {
    return this.sampler.requireSampling(periodMs);
  }

  /** After the apps changed (start, `ctl apply`): sample periodically while one has `--max-memory`. */
  update(): void {
    const needed = [...this.apps()].some((app) => app.config.maxMemoryBytes !== undefined);
    if (needed && this.releaseMaxMemory === undefined) {
      this.releaseMaxMemory = this.sampler.requireSampling(MAX_MEMORY_PERIOD_MS);
    } else if (!needed && this.releaseMaxMemory !== undefined) {
      this.releaseMaxMemory();
      this.releaseMaxMemory = undefined;
    }
  }

  close(): void {
    this.sampler.close();
  }
}
