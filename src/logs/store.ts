// The master's record of worker output: every line tagged with app, slot, pid
// and generation, kept in a bounded ring per app (for `ctl logs -n`), streamed to
// followers (`ctl logs -f`) and written to the app's log file when it has one.

import type http from 'node:http';
import { Broadcast } from '../control/broadcast.js';
import type { LogsQuery } from '../control/handlers.js';
import { openLogFile, type LogFile, type LogFileConfig } from './file.js';
import { Ring } from './ring.js';

export interface LogRecord {
  /** ms since the epoch. */
  readonly time: number;
  readonly app: string;
  readonly slot: number;
  readonly pid: number | undefined;
  readonly generation: number;
  readonly stream: 'stdout' | 'stderr';
  readonly msg: string;
  /** Part of a line too long to hold: the next record of this worker continues it. */
  readonly continued?: true;
}

export interface AppLogConfig {
  readonly name: string;
  readonly file: LogFileConfig | undefined;
}

export interface RingLimits {
  readonly lines: number;
  readonly bytes: number;
}

export const FOLLOWER_BUFFER_BYTES = 16 * 1024 * 1024;

/** Enough for `ctl logs` to look back a while, small enough to keep for every app. */
export const DEFAULT_RING: RingLimits = { lines: 2000, bytes: 16 * 1024 * 1024 };

interface AppLog {
  readonly ring: Ring<Entry>;
  file: LogFile | undefined;
  /** The settings `file` was opened with. */
  config: LogFileConfig | undefined;
}

/** A record, its JSON line (built once, for the file and every reader), and its order across apps. */
interface Entry {
  readonly seq: number;
  readonly record: LogRecord;
  readonly line: string;
}

export class LogStore {
  private readonly logs = new Map<string, AppLog>();
  // A follower may lag this far behind (a burst of output, a busy terminal) before it misses lines.
  private readonly followers = new Broadcast<Entry>((count) => `${JSON.stringify({ type: 'dropped', count })}\n`, FOLLOWER_BUFFER_BYTES);
  private seq = 0;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly fileHooks: {
      /** An app's log file cannot be written (a full disk): its lines are dropped and counted until it can. */
      readonly onError: (app: string, error: Error) => void;
      /** It can again; `lost` lines were dropped meanwhile. */
      readonly onResume: (app: string, lost: number) => void;
    },
    private readonly limits: RingLimits = DEFAULT_RING,
  ) {}

  /**
   * Starts keeping an app's lines (and writing its file, when it has one). An app
   * reconfigured with other file settings gets a new file; its ring is kept.
   */
  async openApp(config: AppLogConfig): Promise<void> {
    let log = this.logs.get(config.name);
    if (log === undefined) {
      log = { ring: new Ring<Entry>(this.limits.lines, this.limits.bytes, (entry) => entry.line.length), file: undefined, config: undefined };
      this.logs.set(config.name, log);
    } else if (JSON.stringify(config.file) === JSON.stringify(log.config)) {
      return;
    }
    const previous = log.file;
    log.file = undefined;
    log.config = config.file;
    await previous?.close();
    if (config.file !== undefined) {
      log.file = await openLogFile(config.file, {
        onError: (error) => this.fileHooks.onError(config.name, error),
        onResume: (lost) => this.fileHooks.onResume(config.name, lost),
      });
    }
  }

  /** An app removed from the system: its file is closed, its lines forgotten. */
  async closeApp(name: string): Promise<void> {
    const log = this.logs.get(name);
    this.logs.delete(name);
    await log?.file?.close();
  }

  apps(): string[] {
    return [...this.logs.keys()];
  }

  add(record: LogRecord): void {
    const log = this.logs.get(record.app);
    if (log === undefined) return;
    const line = `${JSON.stringify({ ...record, time: new Date(record.time).toISOString() })}\n`;
    const entry: Entry = { seq: this.seq++, record, line };
    log.ring.push(entry);
    log.file?.write(line);
    this.followers.publish(entry, () => line);
  }

  /** The latest `count` records of one app, or of every app in the order they came. */
  tail(app: string | undefined, count: number): LogRecord[] {
    return this.tailEntries(app, count).map((entry) => entry.record);
  }

  private tailEntries(app: string | undefined, count: number): Entry[] {
    if (count <= 0) return [];
    const rings = app === undefined ? [...this.logs.values()] : [this.logs.get(app)].filter((log) => log !== undefined);
    const entries = rings.flatMap((log) => log.ring.last(count));
    if (rings.length > 1) entries.sort((a, b) => a.seq - b.seq);
    return entries.slice(-count);
  }

  /** `GET /logs`: the latest lines, then (follow) every new one until the client leaves. */
  serve(response: http.ServerResponse, query: LogsQuery): void {
    for (const entry of this.tailEntries(query.app, query.lines)) response.write(entry.line);
    if (!query.follow) {
      response.end();
      return;
    }
    this.followers.add(response, (entry) => query.app === undefined || entry.record.app === query.app);
  }

  /** Ends the followers and closes the files; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.followers.close();
      await Promise.all([...this.logs.values()].map((log) => log.file?.close()));
    })();
    return this.closing;
  }
}
