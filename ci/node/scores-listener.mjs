// Connects to a result service with the reference socket.io v4 client (as the original
// result page did) and prints one line per `scores` event: `scores <type> <payload>`.
// Usage: node scores-listener.mjs http://127.0.0.1:8081
import { io } from "socket.io-client";

const url = process.argv[2];
if (!url) {
  console.error("usage: node scores-listener.mjs RESULT_URL");
  process.exit(2);
}
const socket = io(url, { transports: ["polling", "websocket"], reconnectionDelay: 100 });
socket.on("connect", () => console.log("connected"));
socket.on("scores", (payload) => console.log(`scores ${typeof payload} ${payload}`));
socket.on("connect_error", (err) => console.error(`connect_error ${err.message}`));
process.on("SIGTERM", () => {
  socket.close();
  process.exit(0);
});
