import type { Logger } from 'pino'
import { pino, destination as toFd } from 'pino'

export type { Logger }

/**
 * The one place a root logger is made; components get a child. Credentials
 * that can sit in URLs or options are redacted by configuration.
 */
export function createLogger(level: string, destination = toFd(2)): Logger {
  // Logs go to stderr, so a command's own output on stdout stays clean.
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: {
        paths: ['password', '*.password', 'secret', '*.secret', 'token', '*.token'],
        censor: '[redacted]',
      },
    },
    destination,
  )
}
