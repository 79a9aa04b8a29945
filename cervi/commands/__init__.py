"""Sub-commands of the ``cervi`` CLI."""
