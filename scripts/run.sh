#!/usr/bin/env bash
# Starts the product: the Rasa server (5005), the action server (5055) and, when no Meta
# credentials are set, the local Meta sandbox (5100). One Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/meta-env.sh
source scripts/meta-env.sh
BIN=.venv/bin
mkdir -p var

trap 'trap - EXIT INT TERM; kill 0 2>/dev/null; wait 2>/dev/null' EXIT INT TERM

if [ "$HANDOFF_SANDBOX" = 1 ]; then
  # Demo accounts first: the command migrates the database, so it must not race the server.
  DEMO_ACCOUNTS=$("$BIN/python" -m connectors.desk.accounts demo)
  "$BIN/python" -m sandbox --port "$SANDBOX_PORT" --rasa-url http://127.0.0.1:5005 &
fi
"$BIN/rasa" run actions --port 5055 --actions actions &
"$BIN/rasa" run --port 5005 --credentials credentials.yml --endpoints endpoints.yml --model models &

cat <<MSG

  Rasa server         http://127.0.0.1:5005
  Messenger webhook   http://127.0.0.1:5005/webhooks/messenger/webhook
  Instagram webhook   http://127.0.0.1:5005/webhooks/instagram/webhook
  Agent desk          http://127.0.0.1:5005/webhooks/desk/
MSG
if [ "$HANDOFF_SANDBOX" = 1 ]; then
  cat <<MSG
  Meta sandbox        http://127.0.0.1:$SANDBOX_PORT/   <- chat here as a Messenger or Instagram customer
  (no Meta credentials set: the connectors talk to the local sandbox)

  Demo accounts for the desk (user / password):
$(echo "$DEMO_ACCOUNTS" | sed 's/^/    /')
MSG
fi
echo "  Stop everything with Ctrl-C."
echo
wait -n
