"""The ALSA-like PCM core and the ASoC-like layer above the DMA engine's consumer API."""

import soc  # noqa: F401  (its guard decides which build runs, before any import here)
