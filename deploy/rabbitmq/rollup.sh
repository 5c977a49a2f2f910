#!/usr/bin/env sh
# Set up the district roll-up on a municipal instance's broker (run where rabbitmqctl reaches it, e.g.
# `docker compose exec rabbitmq sh /etc/kim/rollup.sh`): DISTRICT_AMQP_URI names the district broker's
# roll-up user, e.g. amqps://kim-rollup:<password>@rabbitmq.kreis.example.org:5671/kim (a secret: pass it in
# the environment, never commit it). Idempotent.
set -eu
: "${DISTRICT_AMQP_URI:?set DISTRICT_AMQP_URI (the district broker, with the roll-up user's password)}"
here="$(dirname "$0")"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
sed "s#\${DISTRICT_AMQP_URI}#${DISTRICT_AMQP_URI}#g" "$here/rollup-shovels.json" > "$tmp"
rabbitmqctl import_definitions "$tmp"
rabbitmqctl -p kim list_parameters
