import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launcherScript } from '../core/launcher.js';

// Build step: dist/bin/pingknock, the command install.sh puts on the PATH. The script is a .cjs
// file (the package is ESM) reached through an extensionless symlink, as bin/ does it.
const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'pingknock.cjs'), launcherScript(process.execPath, '../../bin/pingknock.cjs'), { mode: 0o755 });
rmSync(join(dir, 'pingknock'), { force: true });
symlinkSync('pingknock.cjs', join(dir, 'pingknock'));
