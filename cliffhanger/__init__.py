"""The roof: the ``cliffhanger`` command line and the demo's process supervisor.

Nothing else imports this package (checked by the import contracts in pyproject.toml).
"""
