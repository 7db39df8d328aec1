// Send feedback to INPUT_TOPIC, keyed by its id (ID_FIELD, a dotted path, default `id`):
// Kafka spreads the keys over the topic's partitions and keeps each id's messages in order.
// The partitioner is Java's (murmur2), as in the Python clients and examples/kcat.
//   node produce.js '{"id": "n-1", "text": "The Kindle arrived broken."}' ...
//   some-command | node produce.js            (one JSON object per line)
"use strict";
const readline = require("readline");
const { Partitioners } = require("kafkajs");
const { kafka, at, fields } = require("./kafka");

async function lines() {
  if (process.argv.length > 2) return process.argv.slice(2);
  const out = [];
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (line.trim()) out.push(line);
  }
  return out;
}

// The record's id (at ID_FIELD) as a string, or null (no key) when it has none.
function idOf(record) {
  const id = at(record, fields.id);
  if (id == null) return null;
  return typeof id === "string" ? id : JSON.stringify(id);
}

async function main() {
  const topic = process.env.INPUT_TOPIC || "feedback";
  const messages = (await lines()).map((line, i) => {
    let record;
    try {
      record = JSON.parse(line); // the worker also validates; this catches typos early
    } catch (err) {
      console.error(`error: message ${i + 1} is not JSON (${err.message}): nothing was sent`);
      process.exit(2);
    }
    return { key: idOf(record), value: line }; // the line itself, byte for byte
  });
  const producer = kafka("feedback-node-producer").producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
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
