/**
 * Every error the project raises on purpose carries a stable code, so callers
 * branch on `err.code`, never on message text. docs/errors.md lists them and
 * test/errors.test.ts fails when the two disagree.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: 'a configuration variable is missing or malformed',
  COPY_TIMEOUT: 'a COPY batch did not finish within its deadline',
  SHUTDOWN_TIMEOUT: 'the process did not drain within its shutdown deadline',
  STORE_UNAVAILABLE: 'the store that answers an API request is unavailable',
  ACCOUNT_INVALID:
    'a broker account named on the command line is malformed, exists already or does not exist',
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export class TelemetryError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TelemetryError'
    this.code = code
  }
}
