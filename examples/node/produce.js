// Send feedback to INPUT_TOPIC, keyed by id (so one customer's messages stay in order).
//   node produce.js '{"id": "n-1", "text": "The Kindle arrived broken."}' ...
//   some-command | node produce.js            (one JSON object per line)
"use strict";
const readline = require("readline");
const { kafka } = require("./kafka");

async function lines() {
  if (process.argv.length > 2) return process.argv.slice(2);
  const out = [];
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (line.trim()) out.push(line);
  }
  return out;
}

async function main() {
  const topic = process.env.INPUT_TOPIC || "feedback";
  const messages = (await lines()).map((line) => {
    const record = JSON.parse(line); // the worker also validates; this catches typos early
    return { key: String(record.id), value: JSON.stringify(record) };
  });
  const producer = kafka("feedback-node-producer").producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages, acks: -1 });
    console.error(`sent ${messages.length} message(s) to ${topic}`);
  } finally {
    await producer.disconnect();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
