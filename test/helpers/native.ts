// Tests that need the native addon (the subreaper's prctl, the notify socket,
// the native data paths) skip where it is absent, saying why: the README
// promises that an install without it works, on the JavaScript paths.

import { loadNative, nativeLoadError } from '../../src/native/load.js';

/** A `skip` reason for node:test when the addon does not load here, else false. */
export function needsAddon(what: string): string | false {
  if (loadNative() !== undefined) return false;
  return `${what} needs the native addon, which does not load here (${nativeLoadError() ?? 'not built'}; npm run build:native builds it)`;
}
