import mqtt from 'mqtt'

/**
 * Devices that keep publishing a strictly increasing `seq` (and a float),
 * each reading 1 ms after the previous one, until stopped.
 */
export class CountingFleet {
  readonly sent = new Map<string, number>()
  #running = true
  #loops: Promise<void>[] = []

  private constructor(
    private readonly clients: mqtt.MqttClient[],
    readonly ids: string[],
  ) {}

  static async start(url: string, devices: number, intervalMs: number): Promise<CountingFleet> {
    const ids = Array.from({ length: devices }, (_, d) => `cf-${d}`)
    const clients = await Promise.all(ids.map((id) => mqtt.connectAsync(url, { clientId: id })))
    const fleet = new CountingFleet(clients, ids)
    fleet.#loops = clients.map((c, d) => fleet.#run(c, ids[d]!, intervalMs))
    return fleet
  }

  async #run(client: mqtt.MqttClient, id: string, intervalMs: number): Promise<void> {
    const baseMs = Date.now() - 600_000

    for (let seq = 1; this.#running; seq++) {
      const body = JSON.stringify({ ts: baseMs + seq, seq, temp: seq / 4 })
      await client.publishAsync(`devices/${id}/telemetry`, body, { qos: 1 })
      this.sent.set(id, seq)
      await new Promise((r) => setTimeout(r, intervalMs))
    }
  }

  async stop(): Promise<void> {
    this.#running = false
    await Promise.all(this.#loops)
    await Promise.all(this.clients.map((c) => c.endAsync()))
  }
}
