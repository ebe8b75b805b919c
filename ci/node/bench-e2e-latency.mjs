// End-to-end latency: votes sent at a fixed rate through vote's JSON API; a socket.io
// client on result timestamps each `scores` event. A vote's latency is from its 202 to
// the first event whose total includes it (totals grow by one per new voter).
// Usage: node bench-e2e-latency.mjs VOTE_URL RESULT_URL RATE_PER_SEC SECONDS
import { io } from "socket.io-client";

const [voteUrl, resultUrl, rateArg, secondsArg] = process.argv.slice(2);
const rate = Number(rateArg || 1000);
const seconds = Number(secondsArg || 10);
const socket = io(resultUrl, { transports: ["websocket"] });
const events = []; // [time, total]
let baseline = null;
socket.on("scores", (json) => {
  const now = performance.now();
  const counts = JSON.parse(json);
  const total = counts.a + counts.b;
  if (baseline === null) baseline = total;
  events.push([now, total]);
});
while (baseline === null) await new Promise((r) => setTimeout(r, 20));

const accepted = []; // acceptance times, in acceptance order
let failed = 0;
let sent = 0;
const run = Date.now().toString(36);
const started = performance.now();
const tickMs = 5;
await new Promise((resolve) => {
  const timer = setInterval(() => {
    if (performance.now() - started >= seconds * 1000) {
      clearInterval(timer);
      resolve();
      return;
    }
    // Catch up to the schedule: timers drift, the rate must not.
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      const voter = `bench-${run}-${sent++}`;
      fetch(`${voteUrl}/api/vote`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-voter-id": voter },
        body: JSON.stringify({ vote: sent % 2 ? "a" : "b" }),
      })
        .then((r) => (r.status === 202 ? accepted.push(performance.now()) : failed++))
        .catch(() => failed++);
    }
  }, tickMs);
});
// Let the last votes arrive.
const deadline = performance.now() + 5000;
while (performance.now() < deadline && (events.length === 0 || events.at(-1)[1] < baseline + accepted.length)) {
  await new Promise((r) => setTimeout(r, 20));
}
socket.close();
const latencies = [];
let e = 0;
for (let i = 0; i < accepted.length; i++) {
  const needed = baseline + i + 1;
  while (e < events.length && events[e][1] < needed) e++;
  if (e >= events.length) break;
  latencies.push(Math.max(0, events[e][0] - accepted[i]));
}
latencies.sort((x, y) => x - y);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
const elapsed = (performance.now() - started) / 1000;
console.log(JSON.stringify({
  target_rate: rate, sent, accepted: accepted.length, failed, measured: latencies.length,
  achieved_rate: Math.round(accepted.length / seconds), events: events.length,
  p50_ms: pct(50)?.toFixed(1), p95_ms: pct(95)?.toFixed(1), p99_ms: pct(99)?.toFixed(1),
  max_ms: latencies.at(-1)?.toFixed(1), elapsed_s: elapsed.toFixed(1),
}));
process.exit(latencies.length === accepted.length && failed === 0 ? 0 : 1);
