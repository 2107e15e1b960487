# Sourced by scripts/run.sh and the end-to-end tests: fills in the Meta configuration.
# With no META_APP_SECRET set, everything points at the local Meta sandbox.
# Rasa insists that every ${VAR} in credentials.yml is set, so optional ones default to "".

if [ -z "${META_APP_SECRET:-}" ]; then
  export HANDOFF_SANDBOX=1
  export SANDBOX_PORT="${SANDBOX_PORT:-5100}"
  export META_APP_SECRET="sandbox-app-secret"
  export META_VERIFY_TOKEN="${META_VERIFY_TOKEN:-sandbox-verify-token}"
  export MESSENGER_PAGE_ACCESS_TOKEN="${MESSENGER_PAGE_ACCESS_TOKEN:-sandbox-page-token}"
  export INSTAGRAM_ACCESS_TOKEN="${INSTAGRAM_ACCESS_TOKEN:-sandbox-instagram-token}"
  export META_APP_ID="${META_APP_ID:-sandbox-app}"
  export META_GRAPH_URL="http://127.0.0.1:${SANDBOX_PORT}"
  export INSTAGRAM_GRAPH_URL="$META_GRAPH_URL"
else
  export HANDOFF_SANDBOX=0
fi
export META_VERIFY_TOKEN="${META_VERIFY_TOKEN:?set META_VERIFY_TOKEN (the token typed in the webhook settings of the Meta app)}"
export MESSENGER_PAGE_ACCESS_TOKEN="${MESSENGER_PAGE_ACCESS_TOKEN:-}"
export INSTAGRAM_ACCESS_TOKEN="${INSTAGRAM_ACCESS_TOKEN:-}"
export INSTAGRAM_APP_SECRET="${INSTAGRAM_APP_SECRET:-$META_APP_SECRET}"
export META_APP_ID="${META_APP_ID:-}"
export META_GRAPH_URL="${META_GRAPH_URL:-https://graph.facebook.com}"
export INSTAGRAM_GRAPH_URL="${INSTAGRAM_GRAPH_URL:-$META_GRAPH_URL}"
export META_GRAPH_VERSION="${META_GRAPH_VERSION:-v21.0}"
export ACTION_SERVER_URL="${ACTION_SERVER_URL:-http://127.0.0.1:5055/webhook}"
export RASA_TELEMETRY_ENABLED=false
# The action server and the Rasa server share this token (the service API). A random one
# per start unless the operator sets it.
export HANDOFF_SERVICE_TOKEN="${HANDOFF_SERVICE_TOKEN:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"
# Signs the agent desk's sessions; empty: the server makes a random one per start (agents
# log in again after a restart). Set it to a long random value in production.
export HANDOFF_SESSION_SECRET="${HANDOFF_SESSION_SECRET:-}"
export HANDOFF_SERVICE_URL="${HANDOFF_SERVICE_URL:-http://127.0.0.1:5005/webhooks/desk/service}"
