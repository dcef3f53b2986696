/**
 * Exit codes are part of pingknock's interface: scripts and ssh wrappers branch on them,
 * so each failure class keeps its number forever. README.md documents the table.
 */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  secret: 3,
  resolve: 4,
  noReply: 5,
  connectFailed: 6,
  connectionLost: 7,
  pingUnavailable: 8,
  privilege: 9,
  io: 10,
  lab: 11,
  firewall: 12,
  server: 13,
  unreachable: 14,
  unproven: 15,
  horizonEnded: 16,
} as const;

export type ExitCodeName = keyof typeof ExitCode;

/** An expected failure: its message is shown to the user as is, without a stack trace. */
export class PingknockError extends Error {
  readonly exitCode: number;

  constructor(kind: ExitCodeName, message: string) {
    super(message);
    this.name = 'PingknockError';
    this.exitCode = ExitCode[kind];
  }
}
