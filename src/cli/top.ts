// `supervise top`: the terminal side of the live view. It reads /status every
// interval and at once after an event, keeps the event stream open, turns keys
// into control requests, and redraws only when the screen's text changed. The
// view itself is top-model.ts (pure); nothing here decides what is shown.

import { resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { controlRequest, controlStream, errorMessageOf } from '../control/client.js';
import type { SystemStatus } from '../core/system-api.js';
import { EXIT_OK, EXIT_USAGE } from '../errors.js';
import { DEFAULT_CONTROL_PATH } from './ctl.js';
import { applyEvent, applyStatus, initialState, moveSelection, render, selection, type TopState } from './top-model.js';

export interface Terminal {
  readonly input: NodeJS.ReadStream;
  readonly output: NodeJS.WriteStream;
}

const ENTER = '\x1b[?1049h\x1b[?25l';
const LEAVE = '\x1b[?25h\x1b[?1049l';
/** After an event, read the status this soon (events come in bursts: one read for the burst). */
const EVENT_REFRESH_MS = 50;
const RECONNECT_MS = 1000;

export async function runTop(argv: readonly string[], terminal: Terminal, stderr: { write(text: string): unknown }): Promise<number> {
  const program = new Command('supervise top')
    .description('A live view of every app and worker; keys reload, scale and restart.')
    .option('--control <path>', 'control socket of the supervisor', DEFAULT_CONTROL_PATH)
    .option('--interval <ms>', 'refresh period', '1000')
    .exitOverride()
    .configureOutput({ writeErr: (text) => stderr.write(text) });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.code === 'commander.helpDisplayed' ? EXIT_OK : EXIT_USAGE;
    throw error;
  }
  const options = program.opts<{ control: string; interval: string }>();
  const intervalMs = Number(options.interval);
  if (!Number.isInteger(intervalMs) || intervalMs < 100 || intervalMs > 60_000) {
    stderr.write(`supervise top: --interval must be a number of milliseconds from 100 to 60000 (got "${options.interval}")\n`);
    return EXIT_USAGE;
  }
  if (!terminal.output.isTTY || !terminal.input.isTTY) {
    stderr.write('supervise top: needs a terminal; for scripts use supervise ctl status --json or ctl events\n');
    return EXIT_USAGE;
  }
  return new TopSession(resolve(options.control), intervalMs, terminal).run();
}

class TopSession {
  private readonly state: TopState = initialState();
  private readonly abort = new AbortController();
  private lastScreen = '';
  private refreshTimer: NodeJS.Timeout | undefined;
  private reading = false;
  private done!: (code: number) => void;

  constructor(
    private readonly socketPath: string,
    private readonly intervalMs: number,
    private readonly terminal: Terminal,
  ) {}

  run(): Promise<number> {
    const { input, output } = this.terminal;
    const finished = new Promise<number>((resolveDone) => (this.done = resolveDone));
    output.write(ENTER);
    input.setRawMode(true);
    input.setEncoding('utf8');
    input.on('data', this.onKey);
    input.resume();
    output.on('resize', this.draw);
    const ticker = setInterval(() => void this.refresh(), this.intervalMs);
    void this.refresh();
    void this.followEvents();
    return finished.then((code) => {
      clearInterval(ticker);
      clearTimeout(this.refreshTimer);
      this.abort.abort();
      input.off('data', this.onKey);
      input.setRawMode(false);
      input.pause();
      output.off('resize', this.draw);
      output.write(LEAVE);
      return code;
    });
  }

  private readonly draw = (): void => {
    const { output } = this.terminal;
    const lines = render(this.state, { columns: output.columns || 80, rows: output.rows || 24 });
    // Home, each line then erase-to-end-of-line, then erase below: no flicker, no full clear.
    const screen = `\x1b[H${lines.map((line) => `${line}\x1b[K`).join('\r\n')}\x1b[J`;
    if (screen === this.lastScreen) return;
    this.lastScreen = screen;
    output.write(screen);
  };

  private async refresh(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const response = await controlRequest(this.socketPath, 'GET', '/status', undefined, 2000);
      if (response.status === 200 && typeof response.json === 'object') applyStatus(this.state, response.json as SystemStatus, Date.now());
      else this.state.error = errorMessageOf(response);
    } catch (error) {
      this.state.error = error instanceof Error ? error.message : String(error);
    } finally {
      this.reading = false;
    }
    this.draw();
  }

  private soon(): void {
    this.refreshTimer ??= setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refresh();
    }, EVENT_REFRESH_MS);
  }

  /** The event stream, reconnected when the supervisor comes back. */
  private async followEvents(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        await controlStream(this.socketPath, '/events', (line) => {
          if (line === '') return;
          applyEvent(this.state, line);
          this.soon();
        }, this.abort.signal);
      } catch {
        // no supervisor (yet): the status line says so
      }
      await new Promise((wake) => setTimeout(wake, RECONNECT_MS).unref());
    }
  }

  private readonly onKey = (key: string): void => {
    switch (key) {
      case 'q':
      case '\x03': // Ctrl-C: raw mode delivers it as a key
        this.done(EXIT_OK);
        return;
      case '\x1b[A':
      case 'k':
        moveSelection(this.state, -1);
        break;
      case '\x1b[B':
      case 'j':
        moveSelection(this.state, +1);
        break;
      case 'r':
        this.act('reload', (app) => ['POST', `/apps/${encodeURIComponent(app)}/reload`, undefined]);
        break;
      case '+':
      case '=':
        this.act('scale +1', (app) => ['POST', `/apps/${encodeURIComponent(app)}/scale`, { delta: 1 }]);
        break;
      case '-':
        this.act('scale -1', (app) => ['POST', `/apps/${encodeURIComponent(app)}/scale`, { delta: -1 }]);
        break;
      case 'x':
        this.act('restart', (app, slot) => ['POST', `/apps/${encodeURIComponent(app)}/workers/${slot}/restart`, undefined]);
        break;
      default:
        return;
    }
    this.draw();
  };

  /** Sends the request for a key, on the selected worker's app; the answer (when done) becomes the message line. */
  private act(what: string, request: (app: string, slot: number) => ['POST', string, unknown]): void {
    const selected = selection(this.state);
    if (selected === undefined) {
      this.state.message = `${what}: no worker selected`;
      return;
    }
    const target = what === 'restart' ? `${selected.app} worker ${selected.slot}` : selected.app;
    this.state.message = `${what} ${target}…`;
    const [method, path, body] = request(selected.app, selected.slot);
    controlRequest(this.socketPath, method, path, body).then(
      (response) => {
        this.state.message =
          response.status >= 200 && response.status < 300 ? `${what} ${target}: done` : `${what} ${target} failed: ${errorMessageOf(response)}`;
        void this.refresh();
      },
      (error: unknown) => {
        this.state.message = `${what} ${target} failed: ${error instanceof Error ? error.message : String(error)}`;
        this.draw();
      },
    );
  }
}
