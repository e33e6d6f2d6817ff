"""The house's foundations: settings, database, models, errors, the shared vocabulary, access rules, audit,
storage, users and organisations. Imports nothing else of ``ccr``.
"""
