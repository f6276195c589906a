"""The NiceGUI app: pages, and the backend they ask (see app.py)."""
