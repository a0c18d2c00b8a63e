// `supervise ctl events`: one event of the stream as one line a person reads.
// Pure: (event object) -> text. Unknown event types are printed as their JSON,
// so a newer supervisor never makes an older ctl drop what it says.

type Fields = Record<string, unknown>;

function str(value: unknown): string {
  return value === undefined || value === null ? '?' : String(value);
}

function clock(time: unknown): string {
  const date = typeof time === 'string' ? new Date(time) : new Date();
  return Number.isNaN(date.getTime()) ? '--:--:--' : date.toISOString().slice(11, 23);
}

function worker(e: Fields): string {
  return `worker ${str(e['slot'])}${e['pid'] === undefined ? '' : ` (pid ${str(e['pid'])})`}`;
}

export function describeEvent(e: Fields): string {
  switch (e['type']) {
    case 'hello': {
      const apps = Array.isArray(e['apps']) ? (e['apps'] as Fields[]) : [];
      const list = apps.map((app) => `${str(app['name'])} generation ${str(app['generation'])}`).join(', ');
      return `watching supervisor pid ${str(e['pid'])}${list === '' ? '' : ` (${list})`}`;
    }
    case 'worker-state':
      return `${worker(e)} ${str(e['from'])} -> ${str(e['to'])}`;
    case 'worker-exit': {
      // The reason may carry the last stderr lines: the first line is the headline.
      // A normal stop shows no stderr, so no "last stderr:" with nothing after it.
      const reason = str(e['reason']).split('\n');
      const stderr = reason.slice(1).filter((line) => line.trim() !== '');
      const headline = (reason[0] ?? '').replace(/; last stderr:$/, '');
      if (e['expected'] === true) return `${worker(e)} stopped (${headline})`;
      return `${worker(e)} crashed: ${headline}${stderr.length === 0 ? '' : `; last stderr:${stderr.map((line) => `\n    ${line}`).join('')}`}`;
    }
    case 'log-file':
      return e['ok'] === true
        ? `log file written again: ${str(e['lost'])} lines lost meanwhile`
        : `log file cannot be written (${str(e['error'])}): lines are counted and dropped until it can`;
    case 'worker-restart':
      return `worker ${str(e['slot'])} restarting after a crash`;
    case 'reload-start':
      return `reload to generation ${str(e['generation'])} started (${str(e['reason'])})`;
    case 'reload-slot':
      return `reload to generation ${str(e['generation'])}: slot ${str(e['slot'])} ${e['ok'] === true ? 'replaced' : 'failed'}`;
    case 'reload':
      return e['ok'] === true
        ? `reload done: generation ${str(e['generation'])} is serving`
        : `reload aborted: ${str(e['error'])}`;
    case 'scale':
      return `scale ${str(e['from'])} -> ${str(e['to'])} workers`;
    case 'autoscale':
      return e['from'] === e['to']
        ? `autoscale: stays at ${str(e['to'])} workers: ${str(e['reason'])}`
        : `autoscale ${str(e['from'])} -> ${str(e['to'])} workers: ${str(e['reason'])}`;
    case 'health':
      return e['healthy'] === true
        ? `worker ${str(e['slot'])} healthy again: back in rotation`
        : `worker ${str(e['slot'])} unhealthy: out of rotation (${str(e['reason'])})`;
    case 'health-failure':
      return `worker ${str(e['slot'])} failed a health check`;
    case 'server':
      return `server ${str(e['server'])} (${str(e['origin'])}) ${str(e['change'])}`;
    case 'server-health':
      return e['healthy'] === true
        ? `server ${str(e['server'])} healthy again: back in rotation`
        : `server ${str(e['server'])} out of rotation (${str(e['reason'])})`;
    case 'dns':
      return e['ok'] === true
        ? `DNS ${str(e['name'])}: ${str(e['servers'])} server(s)`
        : `DNS ${str(e['name'])} failed, keeping the last good servers: ${str(e['error'])}`;
    case 'tls':
      return e['change'] === 'renewed'
        ? `TLS certificate ${str(e['file'])} loaded: serial ${str(e['serial'])}, expires ${str(e['notAfter'])}`
        : e['change'] === 'expired'
          ? `TLS certificate ${str(e['file'])} expired on ${str(e['notAfter'])}: renew it`
          : `TLS certificate renewal refused, the previous one stays: ${str(e['file'])}: ${str(e['reason'])}`;
    case 'dropped':
      return `(${str(e['count'])} events dropped: this reader was too slow)`;
    default: {
      const { time: _time, app: _app, ...rest } = e;
      return JSON.stringify(rest);
    }
  }
}

/** "12:00:01.234 web  worker 2 (pid 4242) crashed: exited with code 1" */
export function formatEventLine(line: string): string {
  let event: Fields;
  try {
    event = JSON.parse(line) as Fields;
  } catch {
    return line;
  }
  const app = typeof event['app'] === 'string' ? `${event['app']}  ` : '';
  return `${clock(event['time'])} ${app}${describeEvent(event)}`;
}
