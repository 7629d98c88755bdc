// The reference for the sync load benchmark: a plain automerge-repo sync
// server, set up as the automerge-repo-sync-server deployment is (websocket
// network adapter, NodeFS storage, a share policy that announces nothing), on
// 127.0.0.1 only.
//
//   PORT=0 DATA_DIR=/some/empty/dir node server.mjs
//
// Prints one line, "listening on ws://127.0.0.1:PORT", once it accepts
// connections, and nothing else. Stops on SIGINT or SIGTERM.

import http from "node:http"
import os from "node:os"
import fs from "node:fs"

import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const port = process.env.PORT !== undefined ? parseInt(process.env.PORT, 10) : 3030
const dir = process.env.DATA_DIR !== undefined ? process.env.DATA_DIR : ".amrg"
fs.mkdirSync(dir, { recursive: true })

// The repository connects its network adapter only once its storage id is
// loaded; a socket accepted before then is never answered. So the server
// listens (and says so) only after the adapter is connected.
let adapterConnected
const connected = new Promise((resolve) => (adapterConnected = resolve))
class ServerAdapter extends NodeWSServerAdapter {
  connect(peerId, peerMetadata) {
    super.connect(peerId, peerMetadata)
    adapterConnected()
  }
}

const socket = new WebSocketServer({ noServer: true })
const repo = new Repo({
  network: [new ServerAdapter(socket)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: `storage-server-${os.hostname()}`,
  // A server does not share generously: it syncs only the documents a
  // client already knows about and asks for by id.
  sharePolicy: async () => false,
})

const server = http.createServer((request, response) => {
  response.writeHead(200, { "content-type": "text/plain" })
  response.end("automerge-repo sync server is running\n")
})
server.on("upgrade", (request, stream, head) => {
  socket.handleUpgrade(request, stream, head, (ws) => {
    socket.emit("connection", ws, request)
  })
})
await connected
server.listen(port, "127.0.0.1", () => {
  console.log(`listening on ws://127.0.0.1:${server.address().port}`)
})

const stop = () => {
  socket.close()
  server.close()
  repo.shutdown().finally(() => process.exit(0))
}
process.on("SIGINT", stop)
process.on("SIGTERM", stop)
