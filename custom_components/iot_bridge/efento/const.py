"""Constants of the Efento side: endpoint paths, limits, storage and the repair issue."""

from __future__ import annotations

from typing import Final

VENDOR_KEY: Final = "efento"
DEFAULT_TITLE: Final = "Efento gateway"

CONF_WEBHOOK_ID: Final = "webhook_id"
CONF_TOKEN: Final = "token"  # noqa: S105 - a config key, not a secret
CONF_ROTATE_TOKEN: Final = "rotate_token"  # noqa: S105 - a form field name

# One route serves every entry: the unguessable id picks the entry, the last
# segment names the endpoint (both accept either message; bodies are told apart by shape).
URL_BASE: Final = "/api/iot_bridge/efento"
ENDPOINTS: Final = ("measurements", "heartbeat")

# A gateway message of 128 loggers with three channels each is about 40 KiB.
MAX_BODY_BYTES: Final = 1024 * 1024

# After this many bad bodies in a row from one gateway, a repair issue is raised.
BAD_MESSAGES_ISSUE_THRESHOLD: Final = 5
ISSUE_BAD_MESSAGES: Final = "efento_bad_messages"

STORE_NAME: Final = "efento"
STORE_VERSION: Final = 1
# State changes with every message; a write every half minute is plenty.
STORE_DELAY: Final = 30
