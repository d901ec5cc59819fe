"""taops: the team handbook's norms, carried out by Cloud Functions.

Nothing in this package connects to anything at import time: clients are built on
first use (see ``shared.clients``), so a cold start only pays for imports.
"""
