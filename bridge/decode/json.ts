import {
  LosslessNumber,
  parse as parseLossless,
  stringify as stringifyLossless,
} from 'lossless-json'

/**
 * A number whose source text must be kept because a double would change it
 * (more than 15 significant digits, a large exponent) or because its form
 * matters (`20.0` is a float, `20` an int).
 */
export { LosslessNumber as ExactNumber }

export type ParsedJson =
  | { ok: true; value: unknown }
  | { ok: false; reason: 'invalid_json' | 'non_finite_number'; detail: string }

// JSON.parse is exact for every number token that has at most 15 significant
// digits, an exponent under 100 and no all-zero fraction. The scan below is
// conservative (a match inside a string only costs the slower exact parser).
const NEEDS_EXACT = /\d[\d.]{15}|\d[eE]|\.0+(?![0-9])/

// Firmware writes these for broken sensors; none is JSON.
const NON_FINITE = /(?:^|[^\w"])-?(?:nan|inf(?:inity)?)(?![\w"])/i

// JSON.parse keeps the last of duplicate keys; lossless-json would throw,
// and which parser runs must not decide whether a message is accepted.
const LAST_KEY_WINS = { onDuplicateKey: (d: { newValue: unknown }) => d.newValue }

export function parseJson(text: string): ParsedJson {
  try {
    const value = NEEDS_EXACT.test(text)
      ? parseLossless(text, null, LAST_KEY_WINS)
      : JSON.parse(text)
    return { ok: true, value }
  } catch (err) {
    if (NON_FINITE.test(text)) {
      return {
        ok: false,
        reason: 'non_finite_number',
        detail: 'NaN and Infinity are not JSON numbers',
      }
    }

    const message = err instanceof Error ? err.message : String(err)
    return { ok: false, reason: 'invalid_json', detail: message.slice(0, 200) }
  }
}

/** Compact JSON text of a parsed value, with exact numbers kept as written. */
export function stringifyExact(value: unknown): string {
  // lossless-json writes LosslessNumber digits raw; JSON.stringify on Node 20
  // cannot (no JSON.rawJSON).
  return stringifyLossless(value) ?? 'null'
}
