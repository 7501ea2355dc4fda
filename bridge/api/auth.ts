import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { BridgeMetrics } from '../metrics.js'

export interface ApiToken {
  name: string
  token: string
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

/**
 * An onRequest hook that admits a request carrying one of the configured
 * bearer tokens. Tokens are compared as SHA-256 digests with
 * timingSafeEqual, against every token without stopping at a match, so the
 * time taken says nothing about how much of a token was right.
 */
export function bearerAuth(tokens: readonly ApiToken[], metrics: BridgeMetrics) {
  const known = tokens.map((t) => ({ name: t.name, digest: digest(t.token) }))

  return async (req: FastifyRequest, reply: FastifyReply) => {
    const presented = BEARER.exec(req.headers.authorization ?? '')?.[1]

    if (!presented) {
      metrics.httpAuthRefusals.inc({ reason: 'missing' })
      return refuse(reply, 'Bearer realm="telemetry"', 'missing bearer token')
    }

    const d = digest(presented)
    let client: string | undefined
    for (const k of known) if (timingSafeEqual(k.digest, d)) client ??= k.name

    if (!client) {
      metrics.httpAuthRefusals.inc({ reason: 'invalid' })
      return refuse(reply, 'Bearer realm="telemetry", error="invalid_token"', 'invalid token')
    }
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

function refuse(reply: FastifyReply, challenge: string, message: string): FastifyReply {
  return reply
    .code(401)
    .header('www-authenticate', challenge)
    .send({ error: 'unauthorized', message })
}
