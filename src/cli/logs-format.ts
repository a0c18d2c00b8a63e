// `supervise ctl logs`: a log record as the line the worker printed, prefixed
// with where it came from — "[web w2 4242] listening" ("stderr" marked). Pure.

export function formatLogLine(line: string, showApp: boolean): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (record['type'] === 'dropped') return `(${String(record['count'])} lines dropped: this reader was too slow)`;
  const app = showApp && typeof record['app'] === 'string' ? `${record['app']} ` : '';
  const pid = record['pid'] === undefined ? '' : ` ${String(record['pid'])}`;
  const stream = record['stream'] === 'stderr' ? ' stderr' : '';
  const more = record['continued'] === true ? ' …' : '';
  return `[${app}w${String(record['slot'])}${pid}${stream}] ${String(record['msg'] ?? '')}${more}`;
}
