"""Constants shared by the generic parts of the integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "iot_bridge"
LOGGER = logging.getLogger(__package__)

# Which vendor package owns an entry; written once by the config flow.
CONF_VENDOR: Final = "vendor"
