"""specgate's own loopback benchmark: ``python -m bench`` (or ``make bench``)."""
