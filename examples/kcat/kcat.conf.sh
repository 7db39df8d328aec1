# Sourced by produce.sh and consume.sh: turns the worker's settings (environment) into a
# kcat/librdkafka config file, so the password is not on the command line (`ps`).
BROKERS=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}
KCAT_CONFIG=$(mktemp)
trap 'rm -f "$KCAT_CONFIG"' EXIT
chmod 600 "$KCAT_CONFIG"
{
  echo "security.protocol=${KAFKA_SECURITY_PROTOCOL:-PLAINTEXT}"
  case ${KAFKA_SECURITY_PROTOCOL:-PLAINTEXT} in
    SASL_*)
      echo "sasl.mechanisms=${KAFKA_SASL_MECHANISM:-PLAIN}"
      echo "sasl.username=${KAFKA_SASL_USERNAME:-}"
      echo "sasl.password=${KAFKA_SASL_PASSWORD:-}"
      ;;
  esac
  if [ -n "${KAFKA_SSL_CAFILE:-}" ]; then echo "ssl.ca.location=$KAFKA_SSL_CAFILE"; fi
} > "$KCAT_CONFIG"
