"""Provider drivers: each programs one controller's registers and LLIs."""
