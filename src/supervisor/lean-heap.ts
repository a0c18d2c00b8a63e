// The master's V8 young generation kept at its initial size. V8 doubles the
// semi-spaces (up to 16 MB each, so 32 MB) whenever a scavenge finds many
// survivors — and a start of 1,024 workers, or a burst of `GET /status` answers
// of 250 KB each, does that once — then never gives the memory back to an idle
// process: measured, that was a quarter of the master's RSS at 1,024 workers.
// The master allocates little once started: more frequent scavenges of a small
// young generation cost it nothing measurable. Node keeps V8's flags writable
// after start (it passes --no-freeze-flags-after-init for v8.setFlagsFromString),
// and V8 reads this one at each growth. A V8 that clamps the factor to 2 (later
// versions) ignores it: the young generation grows as before. A user's own
// semi-space flag (command line or NODE_OPTIONS) wins.

import v8 from 'node:v8';

/** Whether the young generation is now held at its initial size (false: the user set a semi-space flag). */
export function keepYoungGenerationSmall(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  if ([...execArgv, nodeOptions].some((flag) => /semi[-_]space/.test(flag))) return false;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  return true;
}
