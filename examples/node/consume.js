// Print enriched records from OUTPUT_TOPIC as they arrive, one line each.
//   node consume.js                      follow from the start, until Ctrl-C
//   node consume.js --ids n-1,n-2        stop once these ids were seen (exit 1 on --timeout)
//   node consume.js --topic feedback.dlq dead letters instead
"use strict";
const { kafka, at, fields } = require("./kafka");

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function main() {
  const topic = option("topic", process.env.OUTPUT_TOPIC || "feedback.enriched");
  const wanted = new Set((option("ids", "") || "").split(",").filter(Boolean));
  const timeoutS = Number(option("timeout", wanted.size ? "120" : "0"));
  // A throw-away group: read everything from the start without moving anyone's offsets.
  const groupId = process.env.CONSUMER_GROUP || `feedback-node-example-${process.pid}-${Date.now()}`;
  const consumer = kafka("feedback-node-consumer").consumer({ groupId });
  let done;
  const finished = new Promise((resolve) => { done = resolve; });

  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const record = JSON.parse(message.value.toString());
      const enrichment = record[fields.enrichment]; // a dead letter has none
      const id = enrichment ? enrichment.id : record.id;
      if (enrichment) {
        const entities = enrichment.entities.map((e) => `${e.text}/${e.label}`).join(", ");
        const text = at(record, fields.text);
        console.log(`${id}\t${enrichment.sentiment.label}\t${entities}\t${text}`);
      } else {
        console.log(`${id ?? "-"}\tDLQ ${record.reason}\t${record.detail}`);
      }
      wanted.delete(String(id));
      if (id !== undefined && wanted.size === 0 && option("ids")) done(0);
    },
  });
  const timer = timeoutS > 0 ? setTimeout(() => done(1), timeoutS * 1000) : null;
  process.on("SIGINT", () => done(0));
  const code = await finished;
  if (timer) clearTimeout(timer);
  await consumer.disconnect();
  if (code) console.error(`timed out; never saw: ${[...wanted].join(", ")}`);
  process.exit(code);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
