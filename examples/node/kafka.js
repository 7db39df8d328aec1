// The Kafka connection from the same environment variables as the worker
// (KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_CAFILE), and
// where the worker finds a record's fields (ID_FIELD, TEXT_FIELD, ENRICHMENT_FIELD).
"use strict";
const fs = require("fs");
const { Kafka, logLevel } = require("kafkajs");

function kafka(clientId) {
  const env = process.env;
  const protocol = env.KAFKA_SECURITY_PROTOCOL || "PLAINTEXT";
  const config = {
    clientId,
    brokers: (env.KAFKA_BOOTSTRAP_SERVERS || "127.0.0.1:9092").split(",").map((s) => s.trim()),
    logLevel: logLevel.WARN,
  };
  if (protocol === "SSL" || protocol === "SASL_SSL") {
    config.ssl = env.KAFKA_SSL_CAFILE ? { ca: [fs.readFileSync(env.KAFKA_SSL_CAFILE, "utf-8")] } : true;
  }
  if (protocol.startsWith("SASL")) {
    config.sasl = {
      mechanism: (env.KAFKA_SASL_MECHANISM || "PLAIN").toLowerCase(), // plain, scram-sha-256/512
      username: env.KAFKA_SASL_USERNAME,
      password: env.KAFKA_SASL_PASSWORD,
    };
  }
  return new Kafka(config);
}

// The value at a dotted path (`id`, `review.text`) of a JSON object, or undefined.
function at(record, path) {
  return path.split(".").reduce((value, name) => (value == null ? undefined : value[name]), record);
}

const fields = {
  id: process.env.ID_FIELD || "id",
  text: process.env.TEXT_FIELD || "text",
  enrichment: process.env.ENRICHMENT_FIELD || "enrichment",
};

module.exports = { kafka, at, fields };
