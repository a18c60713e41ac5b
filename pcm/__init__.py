"""The ALSA-like PCM core and the ASoC-like layer above the DMA engine's consumer API."""
