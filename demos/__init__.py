"""User programs: the ``dma-audio`` command line."""
