import { runProxyCommand } from './app/proxy.js';
import { exitOnSignals, reportFailure } from './edge/report.js';

/**
 * `pingknock proxy` runs before every ssh connection, so the launcher starts it here, without
 * yargs (which costs more to load than all the rest); help and the version still go through the
 * full command line. The build bundles this entry into one CommonJS file, which Node loads faster
 * than a graph of ES modules.
 */
exitOnSignals();
// Bundled as CommonJS (see package.json), so no top-level await.
runProxyCommand(process.argv.slice(3)).catch(reportFailure);
