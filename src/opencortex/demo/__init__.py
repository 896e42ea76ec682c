"""The demo data: a small clinical-study model with generated instances."""
