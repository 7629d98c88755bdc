// The reference's clients for the sync load benchmark: automerge-repo's own
// JavaScript clients, as an automerge-repo application runs them. Each agent
// is one `Repo` with the websocket client adapter and its own NodeFS storage
// (a browser application would use IndexedDB), sharing every document it
// holds with the server it connects to.
//
//   URL=ws://127.0.0.1:PORT DOCS=dir STORE=dir DEADLINE_MS=900000 \
//     node clients.mjs agent-0000 agent-0002 ...
//
// DOCS/<agent>/<documentId> holds the saved bytes of each document the agent
// starts with. The process reads commands from stdin, one a line:
//
//   sync       every agent at once: a fresh Repo imports its documents and
//              syncs them with the server
//   reconnect  every agent at once: a fresh Repo over the same storage finds
//              its documents and syncs them again (nothing has changed)
//   quit       ends the process
//
// For each agent and command it prints one JSON line,
// {"agent":..., "ms":..., "attempts":..., "error":...}, then {"done":true}.
// A document counts as synced when the server has sent a sync message whose
// heads are the document's heads: the server holds every change the client
// holds. A session that is not over after DEADLINE_MS is ended and started
// again from the client's storage, up to three times, as a user would
// reload the page.

import fs from "node:fs"
import path from "node:path"
import readline from "node:readline"
import crypto from "node:crypto"

import * as Automerge from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const url = process.env.URL
const docsDir = process.env.DOCS
const storeDir = process.env.STORE
const deadlineMs = parseInt(process.env.DEADLINE_MS ?? "900000", 10)
const attempts = 3
const agents = process.argv.slice(2)
if (!url || !docsDir || !storeDir || agents.length === 0) {
  console.error("usage: URL=... DOCS=... STORE=... node clients.mjs AGENT...")
  process.exit(2)
}

// A websocket the server resets while the adapter is between sockets emits
// an 'error' nobody listens to, which ends a Node process with every agent
// in it. In a browser, where these clients usually run, such an error is
// logged and the page goes on; so here.
process.on("uncaughtException", (error) => {
  console.error(`uncaught: ${error?.stack ?? error}`)
})

const sameHeads = (a, b) => a.length === b.length && a.every((h) => b.includes(h))

// One session of one agent: a fresh Repo over the agent's storage, its
// documents imported (first sync) or found (reconnect), until the server
// has every change of every document, or the deadline.
async function session(agent, first) {
  const files = fs.readdirSync(path.join(docsDir, agent))
  const repo = new Repo({
    network: [new WebSocketClientAdapter(url)],
    storage: new NodeFSStorageAdapter(path.join(storeDir, agent)),
    peerId: `${agent}-${crypto.randomUUID()}`,
    sharePolicy: async () => true,
  })
  const waiting = new Map()
  let finish
  const finished = new Promise((resolve) => (finish = resolve))
  const serverHeads = new Map()
  const check = (documentId) => {
    const wanted = waiting.get(documentId)
    const theirs = serverHeads.get(documentId)
    if (wanted && theirs && sameHeads(wanted, theirs)) {
      waiting.delete(documentId)
      if (waiting.size === 0) finish()
    }
  }
  repo.networkSubsystem.on("message", (message) => {
    if (message.type !== "sync" || !message.documentId) return
    const heads = Automerge.decodeSyncMessage(message.data).heads
    serverHeads.set(message.documentId, heads)
    check(message.documentId)
  })
  let timer
  try {
    const handles = []
    for (const file of files) {
      const documentId = file
      if (first) {
        const bytes = fs.readFileSync(path.join(docsDir, agent, file))
        handles.push(repo.import(bytes, { docId: documentId }))
      } else {
        handles.push(await repo.find(documentId))
      }
    }
    for (const handle of handles) {
      waiting.set(handle.documentId, Automerge.getHeads(handle.doc()))
    }
    for (const handle of handles) check(handle.documentId)
    if (waiting.size > 0) {
      const late = new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${waiting.size} of ${handles.length} documents not synced after ${deadlineMs} ms`)),
          deadlineMs,
        )
      })
      await Promise.race([finished, late])
    }
  } finally {
    clearTimeout(timer)
    await repo.shutdown()
  }
}

async function run(agent, first) {
  const started = performance.now()
  let tries = 0
  let error = null
  for (;;) {
    tries += 1
    try {
      // A retry starts from what the last try stored, as a reloaded page does.
      await session(agent, first && tries === 1)
      error = null
      break
    } catch (e) {
      error = String(e?.message ?? e)
      if (tries >= attempts) break
      console.error(`${agent}: trying again: ${error}`)
    }
  }
  return { agent, ms: performance.now() - started, attempts: tries, error }
}

const lines = readline.createInterface({ input: process.stdin })
for await (const line of lines) {
  const command = line.trim()
  if (command === "quit") break
  if (command !== "sync" && command !== "reconnect") {
    console.error(`unknown command ${JSON.stringify(command)}`)
    continue
  }
  const results = await Promise.all(agents.map((agent) => run(agent, command === "sync")))
  for (const result of results) console.log(JSON.stringify(result))
  console.log(JSON.stringify({ done: true }))
}
process.exit(0)
