import { connect } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'

/**
 * Mutated MQTT 3.1.1 frames for fuzzing the broker: well-formed CONNECT,
 * PUBLISH and SUBSCRIBE frames, then byte flips, truncation, garbage tails,
 * forged remaining lengths, wrong type nibbles, U+0000 and invalid UTF-8.
 * Seeded, so a failing run can be replayed.
 */
export function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let x = Math.imul(s ^ (s >>> 15), 1 | s)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296
  }
}

const TOPICS = [
  'devices/fz/telemetry',
  'devices/other/telemetry',
  'devices/fz/telemetry/temp',
  'devices/fz/commands/#',
  '#',
  '+/fz/telemetry',
  '$SYS/#',
  'a/\u0000/b',
  '',
]

export function validFrames(rand: () => number, clientId: string): Buffer[] {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)] as T
  const frames: Packet[] = [
    {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: rand() < 0.8,
      keepalive: 30,
      clientId,
      ...(rand() < 0.3 ? { username: clientId, password: Buffer.from('not-a-secret') } : {}),
    },
  ]

  for (let i = 0; i < 4; i++) {
    const topic = pick(TOPICS)
    frames.push(
      rand() < 0.6
        ? {
            cmd: 'publish',
            topic: topic.replace(/[#+]/g, 'x') || 'devices/fz/telemetry',
            payload: Buffer.from(`{"v":${i}}`),
            qos: rand() < 0.5 ? 0 : 1,
            dup: false,
            retain: rand() < 0.1,
            messageId: i + 1,
          }
        : { cmd: 'subscribe', messageId: i + 1, subscriptions: [{ topic: topic || '#', qos: 1 }] },
    )
  }

  return frames.map((p) => mqttPacket.generate(p))
}

export function mutate(frame: Buffer, rand: () => number): Buffer {
  const b = Buffer.from(frame)
  const at = () => Math.floor(rand() * b.length)

  switch (Math.floor(rand() * 8)) {
    case 0:
      for (let i = 0; i < 1 + rand() * 4; i++) b[at()] = Math.floor(rand() * 256)
      return b
    case 1:
      return b.subarray(0, at())
    case 2:
      return Buffer.concat([b, randomBytes(rand, 1 + Math.floor(rand() * 64))])
    case 3:
      // A forged remaining length: shorter, longer, or huge.
      return Buffer.concat([b.subarray(0, 1), Buffer.from(forgedLength(rand)), b.subarray(2)])
    case 4:
      b[0] = (Math.floor(rand() * 16) << 4) | ((b[0] as number) & 0x0f)
      return b
    case 5:
      b[at()] = rand() < 0.5 ? 0x00 : 0xff
      return b
    case 6:
      b[0] = ((b[0] as number) & 0xf0) | Math.floor(rand() * 16)
      return b
    default:
      return randomBytes(rand, 1 + Math.floor(rand() * 32))
  }
}

function forgedLength(rand: () => number): number[] {
  const choices = [[0x00], [0x7f], [0xff, 0x7f], [0xff, 0xff, 0xff, 0x7f], [0xff, 0xff, 0xff, 0xff]]
  return choices[Math.floor(rand() * choices.length)] as number[]
}

function randomBytes(rand: () => number, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)))
}

export interface FuzzResult {
  frames: number
  connections: number
  /** Connections that got at least one byte back (a CONNACK, mostly). */
  answered: number
  elapsedMs: number
}

/**
 * Opens `connections` TCP connections, `concurrency` at a time; each sends
 * one CONNECT and four more frames (each mutated with probability
 * `mutationRate`), half-closes, and waits for the broker to close.
 */
export async function fuzzBroker(o: {
  port: number
  connections: number
  concurrency: number
  seed: number
  mutationRate: number
}): Promise<FuzzResult> {
  const rand = prng(o.seed)
  const result: FuzzResult = { frames: 0, connections: 0, answered: 0, elapsedMs: 0 }
  const started = Date.now()
  let next = 0

  const worker = async () => {
    while (next < o.connections) {
      const n = next++
      const frames = validFrames(rand, `fz-${n}`).map((f) =>
        rand() < o.mutationRate ? mutate(f, rand) : f,
      )
      result.frames += frames.length
      result.connections++
      if (await exchange(o.port, frames)) result.answered++
    }
  }

  await Promise.all(Array.from({ length: o.concurrency }, worker))
  result.elapsedMs = Date.now() - started
  return result
}

/** True when the broker answered anything before the connection closed. */
function exchange(port: number, frames: readonly Buffer[]): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    let answered = false
    const timer = setTimeout(() => s.destroy(), 2_000)

    s.on('error', () => {})
    const finish = () => s.end()
    let ending: NodeJS.Timeout | undefined
    s.on('data', () => {
      answered = true
      // The CONNACK came: give the frames after CONNECT a moment, then end.
      clearTimeout(ending)
      ending = setTimeout(finish, 10)
    })
    s.once('close', () => {
      clearTimeout(timer)
      resolve(answered)
    })
    s.once('connect', () => {
      for (const f of frames) s.write(f)
      // A broker that says nothing (a refused first frame) is left after 100 ms.
      ending = setTimeout(finish, 100)
    })
  })
}
