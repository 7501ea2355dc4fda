import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { createConnection, createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface Proc {
  name: string
  child: ChildProcess
  pid: number
  stderrTail: () => string
  stop(): Promise<void>
}

/** A port free right now on loopback. */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((r) => server.close(r))
  return port
}

/**
 * The built CLI when LOAD_CLI=dist (make bench builds it first, and tsx
 * would cost the children CPU), else the sources through tsx: a dist/ left
 * from an older build must never be what a test runs.
 */
function cliArgs(): string[] {
  const built = `${ROOT}dist/cli/main.js`
  if (process.env.LOAD_CLI !== 'dist') return ['--import', 'tsx', `${ROOT}cli/main.ts`]
  if (!existsSync(built))
    throw new Error('LOAD_CLI=dist but dist/cli/main.js is missing: make build')
  return [built]
}

/** Runs `telemetry <command>` as a child process with `env` on top of ours. */
export function spawnCli(name: string, command: string, env: Record<string, string>): Proc {
  return spawnNode(name, [...cliArgs(), command], env)
}

/** Runs a TypeScript file of this repository as a child process. */
export function spawnScript(
  name: string,
  file: string,
  args: string[],
  env: Record<string, string> = {},
  stdout = false,
): Proc {
  return spawnNode(name, ['--import', 'tsx', `${ROOT}${file}`, ...args], env, stdout)
}

function spawnNode(
  name: string,
  args: string[],
  env: Record<string, string>,
  stdout = false,
): Proc {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', stdout ? 'pipe' : 'ignore', 'pipe'],
  })
  let tail = ''

  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000)
  })

  const exited = once(child, 'exit')

  return {
    name,
    child,
    pid: child.pid ?? -1,
    stderrTail: () => tail,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(timer)
    },
  }
}

/** Resolves once `check` passes; fails with the process's last words otherwise. */
export async function waitReady(
  proc: Proc,
  check: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs

  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) break
    if (await check().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 100))
  }

  throw new Error(`${proc.name} did not become ready: ${proc.stderrTail().slice(-1500)}`)
}

export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url)
  await res.body?.cancel()
  return res.ok
}
