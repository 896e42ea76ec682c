"""One module per resource family; ``app.py`` includes their routers."""
