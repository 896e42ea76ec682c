"""Access control: levels, ACL entries, and what a principal may do with an instance or property.

Every read and write of instances asks this package, and only this package, what the caller's
access is; list queries get the same answer as a SQL filter (see ``filters``).
"""
