"""The web application: ``create_app(settings)`` (see app.py)."""
