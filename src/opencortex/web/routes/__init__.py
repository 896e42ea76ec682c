"""The console's routes, one module per page family; each answers through ``ConsoleRoute``."""
