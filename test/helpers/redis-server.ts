import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { connect, createServer } from 'node:net'

/**
 * A redis-server of a test's own, on a free port, without persistence, so
 * a test can flush, stop and restart it without touching the shared one.
 */
export class ThrowawayRedis {
  #child: ChildProcess | undefined

  private constructor(readonly port: number) {}

  static async start(): Promise<ThrowawayRedis> {
    const r = new ThrowawayRedis(await freePort())
    await r.restart()
    return r
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Starts it (again, empty) on the same port and waits until it answers. */
  async restart(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '']
    this.#child = spawn('redis-server', [...args, '--appendonly', 'no'], { stdio: 'ignore' })

    for (let i = 0; i < 200; i++) {
      if (await pong(this.port)) return
      await new Promise((r) => setTimeout(r, 25))
    }
    throw new Error(`redis-server on port ${this.port} did not start`)
  }

  /** Kills it, as a crash or an outage would. */
  async stop(): Promise<void> {
    const child = this.#child
    if (!child || child.exitCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGKILL')
    await exited
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'))
    socket.once('data', (d) => {
      socket.destroy()
      resolve(d.toString().startsWith('+PONG'))
    })
    socket.once('error', () => resolve(false))
  })
}
