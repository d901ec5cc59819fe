"""One module per trigger: the few lines that turn a request or CloudEvent into a call to
``shared`` and its outcome into an HTTP status, an acknowledgement or a retry.

``main.py`` at the repository root re-exports them under the deployed entry-point names.
"""
