import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PingknockError } from './core/errors.js';
import { PROXY_OPTIONS, type OptionSpec } from './commands/options.js';
import { runProxy } from './proxy.js';
import { exitOnSignals, reportFailure } from './report.js';

/**
 * `pingknock proxy` runs before every ssh connection, so it starts without yargs (which costs
 * more to load than all the rest): node's own parseArgs reads the same option definitions.
 * `--help` still goes through the full command line. The build bundles this entry into one
 * CommonJS file, which Node loads faster than a graph of ES modules.
 */
function parseProxyArguments(args: readonly string[]) {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, spec] of Object.entries(PROXY_OPTIONS) as [string, OptionSpec][]) {
    options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string' };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new PingknockError('usage', `${(error as Error).message} (see: pingknock proxy --help)`);
  }
  const { values, positionals } = parsed;
  const [host, port, ...extra] = positionals;
  if (host === undefined || port === undefined || extra.length > 0) {
    throw new PingknockError('usage', `proxy takes HOST and PORT, got ${positionals.length} arguments (see: pingknock proxy --help)`);
  }
  const text = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  const seconds = (name: 'deadline' | 'connect-timeout'): number => Number(text(name) ?? PROXY_OPTIONS[name].default);
  return {
    host,
    port,
    secretFile: text('secret-file'),
    name: text('name'),
    deadline: seconds('deadline'),
    connectTimeout: seconds('connect-timeout'),
    verbose: values.verbose === true,
  };
}

exitOnSignals();
// Bundled as CommonJS (see package.json), so no top-level await. Once both directions are done
// and flushed there is nothing left to do: exiting at once skips Node's orderly teardown of the
// heap and its threads, ~25 ms here that ssh would wait for in the proxy's exit.
Promise.resolve()
  .then(() => runProxy(parseProxyArguments(process.argv.slice(3))))
  .then(() => process.exit(), reportFailure);
