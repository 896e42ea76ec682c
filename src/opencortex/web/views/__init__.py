"""The console's view layer: what pages show, computed from the values the lower layers return."""
