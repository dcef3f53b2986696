/**
 * The `pingknock` command the build writes for this machine: node's own path on the first line,
 * where the portable bin/pingknock.cjs says `#!/usr/bin/env node`. ssh starts the proxy for every
 * connection, and env's search of the PATH and its extra exec cost a few ms each time (~5 ms
 * measured here). A shebang line cannot quote, so a path with blanks or other odd characters
 * keeps env. `entry` is required relative to the launcher's own folder.
 */
export function launcherScript(nodePath: string, entry: string): string {
  const direct = SHEBANG_SAFE_PATH.test(nodePath) && nodePath.length <= SHEBANG_PATH_LIMIT;
  return [
    `#!${direct ? nodePath : '/usr/bin/env node'}`,
    "'use strict';",
    '// Written by the build (src/build/write-launcher.ts) for the node that ran it.',
    `require(${JSON.stringify(entry)});`,
    '',
  ].join('\n');
}

const SHEBANG_SAFE_PATH = /^\/[A-Za-z0-9/._+-]+$/;
/** Linux reads the first 255 bytes of a script for its interpreter line. */
const SHEBANG_PATH_LIMIT = 200;
