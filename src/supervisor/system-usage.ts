// The system's one usage sampler (health/usage.ts) and who needs it: a
// `GET /status` or a metrics scrape asks for a recent sample (see refresh()); `--max-memory` of any app holds a periodic requirement, and so may other
// consumers (the autoscaler) through `requireSampling`. With none of these the
// master reads nothing of its workers.

import { createUsageSampler, type UsageSampler } from '../health/usage.js';
import type { App } from './app.js';

/** A sample this young answers a look as it is. */
const FRESH_MS = 1000;
/** A sample this young answers a look while the next one is taken. */
const STALE_OK_MS = 5000;

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

  /**
   * Someone looks (`status`, `top`, metrics). A sample up to 1 s old is used as
   * is; one up to 5 s old too, while a new one is taken behind it (a thousand
   * workers' pass is not on the request's path: `top` and a scraper, which look
   * regularly, always get the previous pass); an older one, or none, is waited for.
   */
  async refresh(): Promise<void> {
    const age = this.sampler.ageMs();
    if (age <= FRESH_MS) return;
    if (age <= STALE_OK_MS) {
      void this.sampler.sampleNow();
      return;
    }
    await this.sampler.sampleNow();
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
