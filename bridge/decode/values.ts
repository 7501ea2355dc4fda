import type { Value } from '../reading.js'
import { ExactNumber, stringifyExact } from './json.js'
import { fromDouble, fromText } from './numbers.js'
import type { RejectReason } from './reasons.js'

export type ValueResult =
  | { ok: true; value: Value }
  | { ok: false; reason: RejectReason; detail: string }

/** Turns one parsed JSON value into a typed value, or says why it cannot. */
export function toValue(raw: unknown, maxStringBytes: number): ValueResult {
  if (typeof raw === 'number') return { ok: true, value: fromDouble(raw) }
  if (typeof raw === 'boolean') return { ok: true, value: { kind: 'bool', value: raw } }
  if (typeof raw === 'string') return toText(raw, maxStringBytes)
  if (raw === null) return fail('null_value', 'null is not a value')

  if (raw instanceof ExactNumber) {
    const n = fromText(raw.value)
    return 'reason' in n ? fail(n.reason, n.detail) : { ok: true, value: n }
  }

  return toJson(raw, maxStringBytes)
}

function toText(s: string, maxBytes: number): ValueResult {
  if (!s.isWellFormed()) return fail('invalid_unicode', 'string has an unpaired surrogate')

  // A UTF-16 unit is at most 3 UTF-8 bytes: skip the count when it cannot matter.
  if (s.length * 3 > maxBytes && Buffer.byteLength(s) > maxBytes) {
    return fail('value_too_long', `string of ${Buffer.byteLength(s)} bytes exceeds ${maxBytes}`)
  }

  return { ok: true, value: { kind: 'string', value: s } }
}

function toJson(raw: unknown, maxBytes: number): ValueResult {
  const bad = badString(raw)

  if (bad) return bad

  const text = stringifyExact(raw)

  if (Buffer.byteLength(text) > maxBytes) {
    return fail(
      'value_too_long',
      `JSON value of ${Buffer.byteLength(text)} bytes exceeds ${maxBytes}`,
    )
  }

  return { ok: true, value: { kind: 'json', value: text } }
}

// Deeper values are refused: stringifyExact recurses, and a 200 kB
// `[[[…]]]` would overflow the stack. No sensor nests a value this deep.
const MAX_JSON_DEPTH = 64

/** jsonb holds neither U+0000 nor unpaired surrogates, in keys or strings. */
function badString(root: unknown): ValueResult | undefined {
  // An explicit stack, not recursion, for the same reason.
  const stack: [unknown, number][] = [[root, 1]]

  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, depth] = top

    if (typeof v === 'string') {
      if (v.includes('\0')) return fail('json_nul', 'JSON value contains U+0000')
      if (!v.isWellFormed()) return fail('invalid_unicode', 'JSON value has an unpaired surrogate')
      continue
    }

    if (v === null || typeof v !== 'object' || v instanceof ExactNumber) continue

    if (depth > MAX_JSON_DEPTH) {
      return fail('too_deep', `JSON value nested deeper than ${MAX_JSON_DEPTH} levels`)
    }

    for (const [k, inner] of Object.entries(v)) stack.push([k, depth], [inner, depth + 1])
  }

  return undefined
}

function fail(reason: RejectReason, detail: string): ValueResult {
  return { ok: false, reason, detail }
}
