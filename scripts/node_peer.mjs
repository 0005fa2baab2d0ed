// The usual Node.js way to take in a GitHub webhook, the peer that prgate's ingestion is
// measured against (scripts/compare.sh): read the body, `verify` it with
// @octokit/webhooks-methods, `JSON.parse` it, answer 202. Nothing is persisted, so a crash loses
// what it acknowledged; prgate fsyncs each delivery before its 202.
//
//   node node_peer.mjs PORT SECRET
// Run from a directory whose node_modules holds @octokit/webhooks-methods (compare.sh copies
// this file next to the packages it installs under target/npm).
import http from "node:http";
import { verify } from "@octokit/webhooks-methods";

const port = Number(process.argv[2] ?? 8090);
const secret = process.argv[3] ?? "load-secret";
let accepted = 0;

http
  .createServer((req, res) => {
    if (req.method === "GET" && req.url === "/healthz") {
      res.end("ok");
      return;
    }
    // The number of deliveries accepted, as prgate's metrics count them.
    if (req.method === "GET" && req.url === "/accepted") {
      res.end(String(accepted));
      return;
    }
    if (req.method !== "POST" || req.url !== "/webhook") {
      res.writeHead(404).end();
      return;
    }
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", async () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const signature = req.headers["x-hub-signature-256"];
      try {
        if (!signature || !(await verify(secret, body, signature))) {
          res.writeHead(401).end();
          return;
        }
        JSON.parse(body);
        accepted += 1;
        res.writeHead(202, { "content-type": "application/json" });
        res.end('{"ok":true,"queued":true}');
      } catch {
        res.writeHead(400).end();
      }
    });
  })
  .listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${port}`));
