"""The browser half of the workshop: `python serve.py` (see docs/browser.md)."""
