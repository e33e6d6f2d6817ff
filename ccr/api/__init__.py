"""The REST API: machine clients (telephony platforms, CRMs) drop calls and read their results with a token.

A sibling of ``ccr.ui``: an adapter over the same wings, database, storage and queue as the app.
"""
