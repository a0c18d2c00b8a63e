// Tests that run real uvicorn servers need Debian's uvicorn and python3-fastapi
// (.ci/run installs them): skipped locally without them, a failure under CI=true.

import { execFileSync } from 'node:child_process';

/** Why uvicorn tests cannot run here (undefined: they can); throws under CI=true. */
export function uvicornMissing(what: string): string | undefined {
  let missing: string | undefined;
  try {
    execFileSync('uvicorn', ['--version'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    missing = 'uvicorn is not installed (apt-get install -y uvicorn python3-fastapi)';
  }
  if (missing && process.env.CI === 'true') throw new Error(`CI=true: ${what} must run, but ${missing}`);
  return missing;
}
