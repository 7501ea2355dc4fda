import type { ScryptOptions } from 'node:crypto'
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

/**
 * Device secrets: 32 random bytes shown once as base64url, stored only as a
 * scrypt hash with a salt of its own. The stored form names its parameters,
 * so they can be raised later without invalidating old hashes.
 */
const PARAMS = { N: 16_384, r: 8, p: 1 }
const KEY_BYTES = 32
const SALT_BYTES = 16

export function newSecret(): string {
  return randomBytes(32).toString('base64url')
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const key = await derive(secret, salt, KEY_BYTES, PARAMS)
  const { N, r, p } = PARAMS
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`
}

/** False for a wrong secret and for a stored hash it cannot read. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false

  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number]
  const salt = Buffer.from(parts[4] as string, 'base64')
  const want = Buffer.from(parts[5] as string, 'base64')
  if (want.length === 0 || salt.length === 0) return false

  const got = await derive(secret, salt, want.length, { N, r, p })
  return timingSafeEqual(got, want)
}

/** A well-formed hash of nothing: unknown ids cost the same as known ones. */
export const DUMMY_HASH = `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${Buffer.alloc(SALT_BYTES).toString('base64')}$${Buffer.alloc(KEY_BYTES).toString('base64')}`

function derive(secret: string, salt: Buffer, len: number, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, len, { ...o, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  )
}
