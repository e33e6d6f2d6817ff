"""The data-protection rules the software enforces: retention and purge, subjects' rights, exports, consent, keys,
backups.
"""
