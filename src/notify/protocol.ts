// systemd's notify protocol as text: a datagram is newline-separated
// KEY=VALUE assignments (READY=1, STATUS=…, WATCHDOG=1, MAINPID=…). Pure.

/** The assignments of one datagram, in order; a repeated key keeps its last value (as systemd does). Lines without `=` are skipped. */
export function parseNotify(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const equals = line.indexOf('=');
    if (equals <= 0) continue;
    fields.set(line.slice(0, equals), line.slice(equals + 1));
  }
  return fields;
}

/** One datagram from assignments; newlines inside a value would start a new assignment, so they become spaces. */
export function formatNotify(fields: Readonly<Record<string, string | number>>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${String(value).replace(/\n/g, ' ')}`)
    .join('\n');
}
