"""The ground floor: configuration, warehouse storage, versioned publishing, schema docs.

Imports no other layer of Cliffhanger (checked by the import contracts in pyproject.toml).
"""
