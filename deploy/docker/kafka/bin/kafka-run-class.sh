#!/usr/bin/env bash
# kafka-run-class.sh CLASS [ARGS...]: runs a class from the broker's
# classpath with the tools' quiet logging (same path as in apache/kafka).
set -euo pipefail
exec java ${KAFKA_TOOLS_HEAP:--Xmx256m} -XX:TieredStopAtLevel=1 \
  -Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.xml \
  -cp '/opt/kafka/libs/*' "$@"
