"""The domain: orgs, accounts, apps, object definitions, property types and validation."""
