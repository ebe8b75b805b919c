// Fan-out: N socket.io clients on result; votes are cast one at a time (spaced so each
// becomes its own update) and every client must receive every new total within 1 s.
// Usage: node bench-fanout.mjs VOTE_URL RESULT_URL CLIENTS UPDATES
import { io } from "socket.io-client";

const [voteUrl, resultUrl, clientsArg, updatesArg] = process.argv.slice(2);
const clients = Number(clientsArg || 5000);
const updates = Number(updatesArg || 10);
const seen = new Array(clients); // per client: Map total -> receive time
let connected = 0;
const sockets = [];
for (let i = 0; i < clients; i++) {
  seen[i] = new Map();
  const socket = io(resultUrl, { transports: ["websocket"], forceNew: true, reconnection: false });
  socket.on("scores", (json) => {
    const c = JSON.parse(json);
    const total = c.a + c.b;
    if (!seen[i].has(total)) {
      if (seen[i].size === 0) connected++;
      seen[i].set(total, performance.now());
    }
  });
  sockets.push(socket);
  if (i % 250 === 249) await new Promise((r) => setTimeout(r, 50));
}
const connectDeadline = performance.now() + 60000;
while (connected < clients && performance.now() < connectDeadline) await new Promise((r) => setTimeout(r, 50));
console.error(`${connected}/${clients} clients connected and got their first scores`);

const run = Date.now().toString(36);
const votes = []; // [acceptTime, expectedTotal]
let baseline = Math.max(...seen.map((m) => Math.max(...m.keys())));
for (let k = 0; k < updates; k++) {
  const response = await fetch(`${voteUrl}/api/vote`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-voter-id": `fanout-${run}-${k}` },
    body: JSON.stringify({ vote: "a" }),
  });
  if (response.status !== 202) throw new Error(`vote answered ${response.status}`);
  votes.push([performance.now(), baseline + k + 1]);
  await new Promise((r) => setTimeout(r, 400));
}
await new Promise((r) => setTimeout(r, 1500));
let missed = 0;
let late = 0;
let worst = 0;
for (const [sentAt, total] of votes) {
  for (let i = 0; i < clients; i++) {
    const at = seen[i].get(total);
    if (at === undefined) { missed++; continue; }
    const latency = at - sentAt;
    worst = Math.max(worst, latency);
    if (latency > 1000) late++;
  }
}
for (const s of sockets) s.close();
console.log(JSON.stringify({ clients, connected, updates, deliveries_expected: clients * updates, missed, later_than_1s: late, worst_ms: worst.toFixed(1) }));
process.exit(missed === 0 && late === 0 && connected === clients ? 0 : 1);
