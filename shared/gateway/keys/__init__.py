"""Per-developer client keys: hashed records, a local file store and a DynamoDB store, token budgets,
the Lambda REQUEST authorizer's logic, and the ``python -m gateway.keys`` command that manages them.

The request path imports ``model``, ``store``, ``local``/``dynamodb`` and ``budgets`` only; the command's
API Gateway management (``apigateway``, ``cli``) is never imported by a function.
"""
